-- Close-to-close returns per listing over the listing's own trading days.
-- Formulas: docs blocks formula_int_daily_returns_* (_prices__docs.md).
-- Incremental (boundary daily_series, macros/incremental_boundaries.sql): only
-- dates on or after the earliest price or FX date loaded since the last build
-- are recomputed; each ticker's last earlier row (kept in this table) supplies
-- the previous close and the trading-day count.

{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
) }}

{%- set recompute_from = date_literal(daily_series_start()) %}

with prices_usd as (
    select * from {{ ref('int_prices_converted_to_usd') }}
    where trade_date >= {{ recompute_from }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

{% if is_incremental() %}
previous_rows as (
    select
        ticker,
        max(trade_date) as trade_date,
        arg_max(close, trade_date) as close,
        arg_max(adj_close, trade_date) as adj_close,
        arg_max(adj_close_usd, trade_date) as adj_close_usd,
        max(trading_day_number) as previous_trading_day_number,
        true as is_previous_row,
    from {{ this }}
    where trade_date < {{ recompute_from }}
    group by ticker
),
{% endif %}

new_rows as (
    select
        *,
        false as is_previous_row,
    from prices_usd
),

rows_in_order as (
    select * from new_rows
    {% if is_incremental() %}
    union all by name
    select * from previous_rows
    where ticker in (select ticker from new_rows)
    {% endif %}
),

returns as (
    select
        ticker,
        trade_date,
        is_previous_row,
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
        {% if is_incremental() -%}
        coalesce(max(previous_trading_day_number) over (partition by ticker), 0)
            + row_number() over ticker_days
            - count(*) filter (where is_previous_row) over (partition by ticker)
        {%- else -%}
        row_number() over ticker_days
        {%- endif %} as trading_day_number,
        data_source,
        load_id,
    from rows_in_order
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
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from returns
    left join securities
        on returns.ticker = securities.ticker
    where not returns.is_previous_row
),

final as (
    select * from with_security
)

select * from final
