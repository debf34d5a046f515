-- Every return series the performance marts compare, one row per series_id
-- and trade_date, with a USD total-return level:
--   security: level_usd = adj_close_usd (the listing's own trading days);
--             level_local = adj_close.
--   basket:   equal-weight, rebalanced daily: daily_return_usd = the average
--             daily_return_usd of the members that traded on trade_date (a
--             closed market contributes no return that day, never a zero);
--             level_usd = product(1 + daily_return_usd) since the basket's
--             first date (1 on that date), to 12 decimals. The product is
--             accumulated as an exact fixed-point sum of ln(1 + return)
--             (log_level_fixed_point), so an incremental build continues it
--             from the stored level and matches a full rebuild bit for bit.
-- Incremental like int_daily_returns (boundary daily_series,
-- macros/incremental_boundaries.sql): dates on or after the earliest price or
-- FX date loaded since the last build are recomputed.

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['series_id', 'trade_date'],
    on_schema_change='append_new_columns',
) }}

{%- set recompute_from = date_literal(daily_series_start()) %}

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
    where trade_date >= {{ recompute_from }}
),

security_series as (
    select
        ticker as series_id,
        'security' as series_type,
        ticker,
        group_name,
        trade_date,
        exchange,
        currency,
        adj_close as level_local,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        adj_close_usd as level_usd,
        cast(null as hugeint) as log_level_fixed_point,
        daily_return_usd,
        cast(null as bigint) as member_count,
        benchmark_ticker,
        data_source,
        load_id,
    from daily_returns
),

basket_members as (
    select * from daily_returns
    where group_name in ('china_tech', 'us_ai_leader')
),

basket_daily as (
    select
        'basket:' || group_name as series_id,
        'basket' as series_type,
        cast(null as varchar) as ticker,
        group_name,
        trade_date,
        cast(null as varchar) as exchange,
        'USD' as currency,
        cast(null as double) as level_local,
        cast(null as double) as daily_return_local,
        cast(null as double) as daily_price_return_local,
        cast(null as double) as usd_per_unit,
        -- ordered so the float sum runs in the same order on every build (bit-identical rebuilds)
        avg(daily_return_usd order by ticker) as daily_return_usd,
        count(daily_return_usd) as member_count,
        {{ group_benchmark_ticker('group_name') }} as benchmark_ticker,
        string_agg(distinct data_source, ',' order by data_source) as data_source,
        string_agg(distinct load_id, ',' order by load_id) as load_id,
    from basket_members
    group by group_name, trade_date
),

{% if is_incremental() %}
basket_levels_before as (
    select
        series_id,
        arg_max(log_level_fixed_point, trade_date) as log_level_fixed_point_before,
    from {{ this }}
    where series_type = 'basket' and trade_date < {{ recompute_from }}
    group by series_id
),
{% endif %}

basket_series as (
    select
        basket_daily.* exclude (daily_return_usd, member_count, benchmark_ticker, data_source, load_id),
        {% if is_incremental() -%}
        coalesce(basket_levels_before.log_level_fixed_point_before, 0)
        {%- else -%}
        cast(0 as hugeint)
        {%- endif %}
            + sum({{ fixed_point('ln(1 + coalesce(basket_daily.daily_return_usd, 0))') }}) over (
                partition by basket_daily.series_id
                order by basket_daily.trade_date
                rows between unbounded preceding and current row
            ) as log_level_fixed_point,
        basket_daily.daily_return_usd,
        basket_daily.member_count,
        basket_daily.benchmark_ticker,
        basket_daily.data_source,
        basket_daily.load_id,
    from basket_daily
    {% if is_incremental() -%}
    left join basket_levels_before
        on basket_daily.series_id = basket_levels_before.series_id
    {%- endif %}
),

basket_series_with_level as (
    select
        * exclude (log_level_fixed_point),
        round(exp({{ from_fixed_point('log_level_fixed_point') }}), 12) as level_usd,
        log_level_fixed_point,
    from basket_series
),

unioned as (
    select * from security_series
    union all by name
    select * from basket_series_with_level
),

final as (
    select
        series_id,
        series_type,
        ticker,
        group_name,
        trade_date,
        exchange,
        currency,
        level_local,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        level_usd,
        log_level_fixed_point,
        daily_return_usd,
        member_count,
        benchmark_ticker,
        data_source,
        load_id,
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from unioned
)

select * from final
