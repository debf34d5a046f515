-- The base of every series' cumulative returns, one row per series_id: the
-- base trade date, the series' levels on it and its benchmark's USD level on
-- or before it. Formula: docs block formula_relative_performance_base_trade_date
-- (marts/relative_performance/_relative_performance__docs.md). A view over the whole history (a base can be any
-- date); it reads only series_id, trade_date and the levels.

{%- set base_date = var('performance_base_date', none) %}

-- read three times below for a few columns: not materialized, so each scan reads only those
with performance_series as not materialized (
    select * from {{ ref('int_performance_series') }}
),

base_dates as (
    select
        series_id,
        coalesce(
            {% if base_date -%}
            max(trade_date) filter (where level_usd is not null and trade_date <= cast({{ sql_literal(base_date) }} as date)),
            {% endif -%}
            min(trade_date) filter (where level_usd is not null)
        ) as base_trade_date,
    from performance_series
    group by series_id
),

base_levels as (
    select
        base_dates.series_id,
        base_dates.base_trade_date,
        base_row.level_usd as base_level_usd,
        base_row.level_local as base_level_local,
        base_row.benchmark_ticker,
    from base_dates
    left join performance_series as base_row
        on base_dates.series_id = base_row.series_id
        and base_dates.base_trade_date = base_row.trade_date
),

benchmark_levels as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        level_usd as benchmark_level_usd,
    from performance_series
    where series_type = 'security'
        and level_usd is not null
        and series_id in (select distinct benchmark_ticker from base_levels)
),

-- the benchmark's level on or before the series' base date (its own first date may be later)
with_benchmark_base as (
    select
        base_levels.*,
        base_benchmark.benchmark_level_usd as benchmark_level_usd_base,
    from base_levels
    asof left join benchmark_levels as base_benchmark
        on base_levels.benchmark_ticker = base_benchmark.benchmark_ticker
        and base_levels.base_trade_date >= base_benchmark.benchmark_trade_date
),

final as (
    select
        series_id,
        base_trade_date,
        base_level_usd,
        base_level_local,
        benchmark_ticker,
        benchmark_level_usd_base,
    from with_benchmark_base
)

select * from final
