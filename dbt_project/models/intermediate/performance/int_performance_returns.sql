-- USD returns of every series against its base, its own past and its
-- benchmark, one row per series_id and trade_date: cumulative (USD and
-- local), rolling 1/3/6/12 months and year to date, and the benchmark's
-- cumulative and 12-month returns over the same dates with the excess over
-- them. Formulas: docs blocks formula_relative_performance_*
-- (marts/relative_performance/_relative_performance__docs.md). Past levels and the benchmark's are point-in-time
-- look-ups (ASOF: the last level on or before the date).
-- Incremental (boundary daily_series, macros/incremental_boundaries.sql): rows
-- dated on or after the earliest price or FX date loaded since the last build
-- are recomputed; the look-ups read var incremental_context_days (450)
-- calendar days before it, enough for 12 months; bases come from the whole
-- history (int_performance_bases).

{{ config(
    materialized='incremental',
    unique_key=['series_id', 'trade_date'],
) }}

{%- set start = daily_series_start() %}
{%- set recompute_from = date_literal(start) %}
{%- set context_from = daily_series_context_from(start) %}

with series as (
    select
        series_id,
        series_type,
        trade_date,
        level_usd,
        level_local,
        benchmark_ticker,
    from {{ ref('int_performance_series') }}
    where trade_date >= {{ context_from }}
),

bases as (
    select * from {{ ref('int_performance_bases') }}
),

levels as (
    select
        series_id,
        trade_date as level_date,
        level_usd,
    from series
    where level_usd is not null
),

benchmark_levels as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        level_usd as benchmark_level_usd,
    from series
    where series_type = 'security' and level_usd is not null
),

-- the rows this build writes, plus the benchmarks' context rows (their 12-month return is looked up
-- as of each written row's date); the point-in-time look-ups below run on these rows only
rows_to_write as (
    select
        series.*,
        bases.base_trade_date,
        bases.base_level_usd,
        bases.base_level_local,
        bases.benchmark_level_usd_base,
        cast(series.trade_date - interval 1 month as date) as date_1m_ago,
        cast(series.trade_date - interval 3 month as date) as date_3m_ago,
        cast(series.trade_date - interval 6 month as date) as date_6m_ago,
        cast(series.trade_date - interval 12 month as date) as date_12m_ago,
        make_date(year(series.trade_date) - 1, 12, 31) as previous_year_end_date,
    from series
    left join bases
        on series.series_id = bases.series_id
    where series.trade_date >= {{ recompute_from }}
        or series.series_id in (select benchmark_ticker from bases)
),

{#- (look-up alias, the date column on or before which it looks, the output column) -#}
{%- set past_levels = [
    ('level_1m', 'date_1m_ago', 'level_usd_1m_ago'),
    ('level_3m', 'date_3m_ago', 'level_usd_3m_ago'),
    ('level_6m', 'date_6m_ago', 'level_usd_6m_ago'),
    ('level_12m', 'date_12m_ago', 'level_usd_12m_ago'),
    ('level_ytd', 'previous_year_end_date', 'level_usd_previous_year_end'),
] %}

with_past_levels as (
    select
        rows_to_write.*,
        {%- for alias, _, column in past_levels %}
        {{ alias }}.level_usd as {{ column }},
        {%- endfor %}
    from rows_to_write
    {%- for alias, date_column, _ in past_levels %}
    asof left join levels as {{ alias }}
        on rows_to_write.series_id = {{ alias }}.series_id
        and rows_to_write.{{ date_column }} >= {{ alias }}.level_date
    {%- endfor %}
),

with_benchmark_level as (
    select
        with_past_levels.*,
        benchmark_level.benchmark_level_usd,
    from with_past_levels
    asof left join benchmark_levels as benchmark_level
        on with_past_levels.benchmark_ticker = benchmark_level.benchmark_ticker
        and with_past_levels.trade_date >= benchmark_level.benchmark_trade_date
),

measures as (
    select
        series_id,
        series_type,
        trade_date,
        benchmark_ticker,
        base_trade_date,
        case when trade_date >= base_trade_date then level_usd / base_level_usd - 1 end as cum_return_usd,
        case when trade_date >= base_trade_date then level_local / base_level_local - 1 end as cum_return_local,
        level_usd / level_usd_1m_ago - 1 as return_1m_usd,
        level_usd / level_usd_3m_ago - 1 as return_3m_usd,
        level_usd / level_usd_6m_ago - 1 as return_6m_usd,
        level_usd / level_usd_12m_ago - 1 as return_12m_usd,
        level_usd / level_usd_previous_year_end - 1 as return_ytd_usd,
        case when trade_date >= base_trade_date then
            benchmark_level_usd / benchmark_level_usd_base - 1
        end as benchmark_cum_return_usd,
    from with_benchmark_level
),

benchmark_rolling as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        return_12m_usd as benchmark_return_12m_usd,
    from measures
    where series_type = 'security'
),

with_excess as (
    select
        measures.*,
        cum_return_usd - benchmark_cum_return_usd as excess_cum_return_usd,
        benchmark_rolling.benchmark_return_12m_usd,
        return_12m_usd - benchmark_rolling.benchmark_return_12m_usd as excess_return_12m_usd,
    from measures
    asof left join benchmark_rolling
        on measures.benchmark_ticker = benchmark_rolling.benchmark_ticker
        and measures.trade_date >= benchmark_rolling.benchmark_trade_date
),

final as (
    select
        series_id,
        trade_date,
        base_trade_date,
        cum_return_local,
        cum_return_usd,
        return_1m_usd,
        return_3m_usd,
        return_6m_usd,
        return_12m_usd,
        return_ytd_usd,
        benchmark_cum_return_usd,
        excess_cum_return_usd,
        benchmark_return_12m_usd,
        excess_return_12m_usd,
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from with_excess
    where trade_date >= {{ recompute_from }}
)

select * from final
