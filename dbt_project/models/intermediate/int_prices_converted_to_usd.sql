-- Daily prices with the FX rate on or before the trade date (ASOF join).
-- USD listings use a rate of 1; a listing with no earlier fixing keeps a
-- null rate (and a null adj_close_usd) instead of an invented one.

with prices as (
    select * from {{ ref('stg_raw__prices') }}
),

fx_rates as (
    select * from {{ ref('stg_raw__fx_rates') }}
),

prices_with_fx as (
    select
        prices.ticker,
        prices.trade_date,
        prices.exchange,
        prices.currency,
        prices.adj_close,
        case
            when prices.currency = 'USD' then 1.0
            else fx_rates.usd_per_unit
        end as usd_per_unit,
        case
            when prices.currency != 'USD' then fx_rates.rate_date
        end as fx_rate_date,
        prices.data_source,
        prices.load_id,
    from prices
    asof left join fx_rates
        on prices.currency = fx_rates.currency
        and prices.trade_date >= fx_rates.rate_date
),

converted as (
    select
        ticker,
        trade_date,
        exchange,
        currency,
        adj_close,
        usd_per_unit,
        fx_rate_date,
        adj_close * usd_per_unit as adj_close_usd,
        data_source,
        load_id,
    from prices_with_fx
),

final as (
    select * from converted
)

select * from final
