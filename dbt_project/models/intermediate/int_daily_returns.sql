-- Close-to-close returns per listing, in the listing currency and in USD,
-- over the listing's own trading days (a holiday is simply absent, so the
-- next day's return spans it). The first row of each ticker has null returns.

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
        adj_close,
        usd_per_unit,
        adj_close_usd,
        adj_close / lag(adj_close) over ticker_days - 1 as daily_return_local,
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
        returns.adj_close,
        returns.usd_per_unit,
        returns.adj_close_usd,
        returns.daily_return_local,
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
