-- Daily prices with the FX fixing in force at the listing's close (ASOF join),
-- one row per ticker and trade_date. Formulas: docs blocks
-- formula_int_prices_converted_to_usd_usd_per_unit and
-- formula_int_prices_converted_to_usd_adj_close_usd (_prices__docs.md).

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
                    when {{ sql_literal(exchange) }} then {{ sql_number(days, 'fx_fixing_lag_days') | int }}
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
