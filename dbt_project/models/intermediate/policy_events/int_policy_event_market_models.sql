-- The market model of every event and listing, fitted by OLS on the
-- estimation window: one row per event and listing with at least one
-- estimation day. Formulas: docs blocks formula_int_policy_event_market_models_*
-- (_policy_events__docs.md). Every sum is exact and order-independent
-- (macros/incremental.sql: fixed-point HUGEINT sums, two passes for the
-- moments), so rebuilds are bit-identical without ordered aggregates. A view
-- over int_policy_event_window_days: a filter on event_id reaches its scans.

{%- set estimation_window = event_study_estimation_window() %}
{%- set min_estimation_days = event_study_min_estimation_days() %}

with window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
),

estimation_days as (
    select *
    from window_days
    where
        relative_day between {{ estimation_window[0] }} and {{ estimation_window[1] }}
        and security_return_local is not null
        and benchmark_return_local is not null
),

estimation_means as (
    select
        event_id,
        ticker,
        count(*) as estimation_days,
        min(trade_date) as estimation_start_date,
        max(trade_date) as estimation_end_date,
        {{ exact_sum('security_return_local') }} / count(*) as mean_security_return,
        {{ exact_sum('benchmark_return_local') }} / count(*) as mean_benchmark_return,
    from estimation_days
    group by event_id, ticker
),

-- OLS slope from centred sums (second pass over the estimation days)
estimation_moments as (
    select
        estimation_days.event_id,
        estimation_days.ticker,
        {{ exact_sum(
            '(estimation_days.benchmark_return_local - estimation_means.mean_benchmark_return)'
            ~ ' * (estimation_days.security_return_local - estimation_means.mean_security_return)'
        ) }} as centred_cross_products,
        {{ exact_sum('(estimation_days.benchmark_return_local - estimation_means.mean_benchmark_return) ** 2') }}
            as centred_benchmark_squares,
    from estimation_days
    inner join estimation_means
        on estimation_days.event_id = estimation_means.event_id
        and estimation_days.ticker = estimation_means.ticker
    group by estimation_days.event_id, estimation_days.ticker
),

coefficients as (
    select
        estimation_means.event_id,
        estimation_means.ticker,
        estimation_means.estimation_days,
        estimation_means.estimation_start_date,
        estimation_means.estimation_end_date,
        case
            when estimation_means.estimation_days >= {{ min_estimation_days }}
                then estimation_moments.centred_cross_products
                    / nullif(estimation_moments.centred_benchmark_squares, 0)
        end as beta,
        estimation_means.mean_security_return - beta * estimation_means.mean_benchmark_return as alpha,
        estimation_means.mean_benchmark_return,
        estimation_moments.centred_benchmark_squares,
    from estimation_means
    inner join estimation_moments
        on estimation_means.event_id = estimation_moments.event_id
        and estimation_means.ticker = estimation_moments.ticker
),

-- third pass: residual standard deviation of the fitted market model
residuals as (
    select
        estimation_days.event_id,
        estimation_days.ticker,
        sqrt(
            {{ exact_sum(
                '(estimation_days.security_return_local'
                ~ ' - (coefficients.alpha + coefficients.beta * estimation_days.benchmark_return_local)) ** 2'
            ) }} / (count(*) - 2)
        ) as residual_sd,
    from estimation_days
    inner join coefficients
        on estimation_days.event_id = coefficients.event_id
        and estimation_days.ticker = coefficients.ticker
    where coefficients.beta is not null
    group by estimation_days.event_id, estimation_days.ticker
),

final as (
    select
        coefficients.event_id,
        coefficients.ticker,
        coefficients.estimation_days,
        coefficients.estimation_start_date,
        coefficients.estimation_end_date,
        coefficients.alpha,
        coefficients.beta,
        residuals.residual_sd,
        coefficients.mean_benchmark_return,
        coefficients.centred_benchmark_squares,
    from coefficients
    left join residuals
        on coefficients.event_id = residuals.event_id
        and coefficients.ticker = residuals.ticker
)

select * from final
