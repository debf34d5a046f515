-- Close-to-close returns per listing over the listing's own trading days (a
-- holiday is simply absent, so the next day's return spans it). The first
-- row of each ticker has null returns.
--   total return (daily_return_local) = adj_close / previous adj_close - 1:
--       the vendor's adjusted close carries splits and reinvested dividends
--   price return = close * split_ratio / previous close - 1: the as-traded
--       price move with the split undone, without dividends
--   daily_return_usd = adj_close_usd / previous adj_close_usd - 1: the total
--       return of a US-dollar investor (price and currency)

with prices_usd as (
    select * from {{ ref('int_prices_converted_to_usd') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

returns as (
    select
        ticker,
        trade_date,
        exchange,
        currency,
        close,
        adj_close,
        dividend_per_share,
        split_ratio,
        usd_per_unit,
        fx_rate_date,
        adj_close_usd,
        adj_close / lag(adj_close) over ticker_days - 1 as daily_return_local,
        close * split_ratio / lag(close) over ticker_days - 1 as daily_price_return_local,
        adj_close_usd / lag(adj_close_usd) over ticker_days - 1 as daily_return_usd,
        row_number() over ticker_days as trading_day_number,
        data_source,
        load_id,
    from prices_usd
    window ticker_days as (partition by ticker order by trade_date)
),

with_security as (
    select
        returns.ticker,
        securities.group_name,
        securities.benchmark_ticker,
        returns.trade_date,
        returns.trading_day_number,
        returns.exchange,
        returns.currency,
        returns.close,
        returns.adj_close,
        returns.dividend_per_share,
        returns.split_ratio,
        returns.usd_per_unit,
        returns.fx_rate_date,
        returns.adj_close_usd,
        returns.daily_return_local,
        returns.daily_price_return_local,
        returns.daily_return_usd,
        returns.data_source,
        returns.load_id,
    from returns
    left join securities
        on returns.ticker = securities.ticker
),

final as (
    select * from with_security
)

select * from final
