-- Daily prices with the FX fixing in force at the listing's close (ASOF join).
-- A daily fixing is stamped with the date it closed (late in the London /
-- New York day), so:
--   - US listings (close 16:00 New York) use the fixing dated on or before
--     the trade date;
--   - listings whose market closes before that day's fixing (var
--     fx_fixing_lag_days, default XHKG: 1) use the last fixing dated at least
--     that many days before the trade date, i.e. the latest rate already
--     known at their close.
-- A market holiday without a fixing falls back to the previous fixing. USD
-- listings use a rate of 1; a listing with no earlier fixing keeps a null
-- rate (and a null adj_close_usd) instead of an invented one.

{%- set lag_days = var('fx_fixing_lag_days', {'XHKG': 1}) %}

with prices as (
    select * from {{ ref('stg_raw__prices') }}
),

fx_rates as (
    select * from {{ ref('stg_raw__fx_rates') }}
),

prices_with_fixing_cutoff as (
    select
        *,
        cast(
            trade_date - to_days(
                case exchange
                    {%- for exchange, days in lag_days.items() %}
                    when '{{ exchange }}' then {{ days | int }}
                    {%- endfor %}
                    else 0
                end
            ) as date
        ) as fx_cutoff_date,
    from prices
),

prices_with_fx as (
    select
        prices.ticker,
        prices.trade_date,
        prices.exchange,
        prices.currency,
        prices.close,
        prices.adj_close,
        prices.dividend_per_share,
        prices.split_ratio,
        case
            when prices.currency = 'USD' then 1.0
            else fx_rates.usd_per_unit
        end as usd_per_unit,
        case
            when prices.currency != 'USD' then fx_rates.rate_date
        end as fx_rate_date,
        prices.data_source,
        prices.load_id,
    from prices_with_fixing_cutoff as prices
    asof left join fx_rates
        on prices.currency = fx_rates.currency
        and prices.fx_cutoff_date >= fx_rates.rate_date
),

converted as (
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
        adj_close * usd_per_unit as adj_close_usd,
        data_source,
        load_id,
    from prices_with_fx
),

final as (
    select * from converted
)

select * from final
