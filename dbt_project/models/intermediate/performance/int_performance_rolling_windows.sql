-- Rolling-window statistics of every series, one row per series_id and
-- trade_date: annualised volatility over the last 63 and 252 daily USD
-- returns, the 252-row beta to the benchmark and the drawdown from the
-- running peak. Formulas: docs blocks formula_relative_performance_volatility,
-- _beta and _drawdown (marts/relative_performance/_relative_performance__docs.md). Window sums are exact fixed-point sums
-- (macros/incremental.sql), so a window gives the same bits however the rows
-- around it were built.
-- Incremental (boundary daily_series, macros/incremental_boundaries.sql): rows
-- dated on or after the earliest price or FX date loaded since the last build
-- are recomputed from a context of var incremental_context_days (450)
-- calendar days before it (252 rows fit); the running peak before the
-- context comes from the whole history.

{{ config(
    materialized='incremental',
    unique_key=['series_id', 'trade_date'],
) }}

{%- set start = daily_series_start() %}
{%- set recompute_from = date_literal(start) %}
{%- set context_from = daily_series_context_from(start) %}
{%- set min_beta_days = number_var('beta_min_observations', 200) %}
{#- Window lengths are vars so unit tests can shrink them; the column names give the defaults. #}
{%- set short_days = number_var('volatility_short_days', 63) %}
{%- set long_days = number_var('volatility_long_days', 252) %}
{%- set beta_days = number_var('beta_days', 252) %}
{%- set year_days = number_var('annualization_days', 252) %}

-- read twice below for a few columns: not materialized, so each scan reads only those
with performance_series as not materialized (
    select * from {{ ref('int_performance_series') }}
),

series as (
    select
        series_id,
        series_type,
        trade_date,
        level_usd,
        daily_return_usd,
        benchmark_ticker,
    from performance_series
    where trade_date >= {{ context_from }}
),

peaks_before_context as (
    select
        series_id,
        max(level_usd) as peak_before_context,
    from performance_series
    where trade_date < {{ context_from }}
    group by series_id
),

benchmark_returns as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        daily_return_usd as benchmark_daily_return_usd,
    from series
    where series_type = 'security' and level_usd is not null
),

-- the same-day benchmark return, for beta (the windows need it on every context row)
with_benchmark_return as (
    select
        series.*,
        same_day_benchmark.benchmark_daily_return_usd,
    from series
    left join benchmark_returns as same_day_benchmark
        on series.benchmark_ticker = same_day_benchmark.benchmark_ticker
        and series.trade_date = same_day_benchmark.benchmark_trade_date
),

with_fixed_points as (
    select
        *,
        {{ fixed_point('daily_return_usd') }} as return_fixed_point,
        {{ fixed_point('daily_return_usd ^ 2') }} as return_squared_fixed_point,
        case when benchmark_daily_return_usd is not null
            then {{ fixed_point('daily_return_usd') }}
        end as paired_return_fixed_point,
        case when daily_return_usd is not null
            then {{ fixed_point('benchmark_daily_return_usd') }}
        end as paired_benchmark_fixed_point,
        {{ fixed_point('benchmark_daily_return_usd ^ 2') }} as paired_benchmark_squared_fixed_point,
        {{ fixed_point('benchmark_daily_return_usd * daily_return_usd') }} as paired_product_fixed_point,
    from with_benchmark_return
),

window_sums as (
    select
        *,
        count(return_fixed_point) over short_window as short_n,
        sum(return_fixed_point) over short_window as short_sum,
        sum(return_squared_fixed_point) over short_window as short_sum_squares,
        count(return_fixed_point) over long_window as long_n,
        sum(return_fixed_point) over long_window as long_sum,
        sum(return_squared_fixed_point) over long_window as long_sum_squares,
        count(paired_return_fixed_point) over beta_window as beta_n,
        sum(paired_return_fixed_point) over beta_window as beta_sum_y,
        sum(paired_benchmark_fixed_point) over beta_window as beta_sum_x,
        sum(paired_benchmark_squared_fixed_point) over beta_window as beta_sum_xx,
        sum(paired_product_fixed_point) over beta_window as beta_sum_xy,
        max(level_usd) over (
            partition by series_id
            order by trade_date
            rows between unbounded preceding and current row
        ) as peak_in_context,
    from with_fixed_points
    window
        short_window as (
            partition by series_id order by trade_date rows between {{ short_days - 1 }} preceding and current row
        ),
        long_window as (
            partition by series_id order by trade_date rows between {{ long_days - 1 }} preceding and current row
        ),
        beta_window as (
            partition by series_id order by trade_date rows between {{ beta_days - 1 }} preceding and current row
        )
),

window_statistics as (
    select
        window_sums.series_id,
        window_sums.trade_date,
        case when short_n = {{ short_days }} then
            {{ stddev_from_sums('short_n', from_fixed_point('short_sum'), from_fixed_point('short_sum_squares')) }}
                * sqrt({{ year_days }})
        end as volatility_63d_ann,
        case when long_n = {{ long_days }} then
            {{ stddev_from_sums('long_n', from_fixed_point('long_sum'), from_fixed_point('long_sum_squares')) }}
                * sqrt({{ year_days }})
        end as volatility_252d_ann,
        case when beta_n >= {{ min_beta_days }} then
            {{ slope_from_sums(
                'beta_n',
                from_fixed_point('beta_sum_x'),
                from_fixed_point('beta_sum_y'),
                from_fixed_point('beta_sum_xx'),
                from_fixed_point('beta_sum_xy')
            ) }}
        end as beta_252d,
        window_sums.level_usd / greatest(peaks_before_context.peak_before_context, window_sums.peak_in_context) - 1
            as drawdown_usd,
    from window_sums
    left join peaks_before_context
        on window_sums.series_id = peaks_before_context.series_id
    where window_sums.trade_date >= {{ recompute_from }}
),

final as (
    select
        series_id,
        trade_date,
        volatility_63d_ann,
        volatility_252d_ann,
        beta_252d,
        drawdown_usd,
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from window_statistics
)

select * from final
