-- The two models of normal returns of every event and listing, fitted by OLS
-- on the estimation window without the days of other events' windows: one
-- row per event and listing with at least one estimation day.
--   market model (alpha, beta, residual_sd): r_i on the broad market proxy
--     r_m (stg_raw__securities.market_ticker); with the Dimson (1979) lag and
--     lead (r_m at t-1, t, t+1) when the listing and its market close at
--     different times, beta = the sum of the three slopes;
--   sector model (sector_*): r_i on the group benchmark r_b, one regressor.
-- Formulas: docs blocks formula_int_policy_event_market_models_*
-- (_policy_events__docs.md). Every sum is exact and order-independent
-- (macros/incremental.sql: fixed-point HUGEINT sums, two passes for the
-- moments), so rebuilds are bit-identical without ordered aggregates.
-- One row per event and listing with a day 0 (with estimation_days 0 and no
-- fit when no day qualifies), carrying the listing's day 0 and availability.
-- Incremental, by event, with the rule and post-hook of the window days it
-- reads (event_study_events_to_rebuild, macros/event_study.sql), the filter
-- in its first CTEs. A table, not a view: the abnormal returns, the residual
-- correlations and policy_event_impact read it for a few events, and DuckDB
-- computed a view's CTEs for every event before filtering (30 s per read at
-- 5,000 tickers).

{{ config(
    materialized='incremental',
    unique_key=['event_id'],
    post_hook="{{ event_study_delete_rows_not_in(this, event_study_days_with_day_zero(ref('int_policy_event_days')), ['event_id', 'ticker']) }}",
) }}

{%- set events = event_study_events_to_rebuild(ref('int_policy_event_days'), day_zero_rows_only=true) %}
{%- set estimation_window = event_study_estimation_window() %}
{%- set min_estimation_days = event_study_min_estimation_days() %}
{#- the market model's regressors: x1 = r_m,t-1, x2 = r_m,t, x3 = r_m,t+1 (x1 = x3 = 0 without lead/lag) #}
{%- set regressors = ['x1', 'x2', 'x3'] %}

with window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
    where {{ event_study_event_filter(events) }}
),

event_days as (
    select * from {{ ref('int_policy_event_days') }}
    where {{ event_study_event_filter(events) }}
        and event_trading_day_number is not null
),

clean_days as (
    select
        window_days.*,
        event_days.uses_lead_lag,
    from window_days
    inner join event_days
        on window_days.event_id = event_days.event_id
        and window_days.ticker = event_days.ticker
    where
        window_days.relative_day between {{ estimation_window[0] }} and {{ estimation_window[1] }}
        and window_days.security_return_local is not null
        and not window_days.is_in_other_event_window
),

market_days as (
    select
        event_id,
        ticker,
        trade_date,
        uses_lead_lag,
        security_return_local as y,
        case when uses_lead_lag then market_return_lag else 0 end as x1,
        market_return as x2,
        case when uses_lead_lag then market_return_lead else 0 end as x3,
    from clean_days
    where market_return is not null
        and (not uses_lead_lag or (market_return_lag is not null and market_return_lead is not null))
),

market_means as (
    select
        event_id,
        ticker,
        any_value(uses_lead_lag) as uses_lead_lag,
        count(*) as estimation_days,
        min(trade_date) as estimation_start_date,
        max(trade_date) as estimation_end_date,
        {{ exact_sum('y') }} / count(*) as mean_y,
        {% for x in regressors -%}
        {{ exact_sum(x) }} / count(*) as mean_{{ x }},
        {% endfor %}
    from market_days
    group by event_id, ticker
),

-- centred cross-products S_jk = sum((x_j - avg x_j)(x_k - avg x_k)) and c_j = sum((x_j - avg x_j)(y - avg y))
market_moments as (
    select
        market_days.event_id,
        market_days.ticker,
        {% for j in range(3) -%}
        {% for k in range(j, 3) -%}
        {{ exact_sum(
            '(market_days.' ~ regressors[j] ~ ' - market_means.mean_' ~ regressors[j] ~ ')'
            ~ ' * (market_days.' ~ regressors[k] ~ ' - market_means.mean_' ~ regressors[k] ~ ')'
        ) }} as s{{ j + 1 }}{{ k + 1 }},
        {% endfor -%}
        {{ exact_sum(
            '(market_days.' ~ regressors[j] ~ ' - market_means.mean_' ~ regressors[j] ~ ')'
            ~ ' * (market_days.y - market_means.mean_y)'
        ) }} as c{{ j + 1 }},
        {% endfor %}
    from market_days
    inner join market_means
        on market_days.event_id = market_means.event_id
        and market_days.ticker = market_means.ticker
    group by market_days.event_id, market_days.ticker
),

-- (X'X)^-1 of the centred regressors: the 3 x 3 inverse (adjugate / determinant) with
-- lead/lag, else 1 / S22 for the one regressor
market_inverse as (
    select
        market_means.*,
        market_moments.* exclude (event_id, ticker),
        market_moments.s11 * (market_moments.s22 * market_moments.s33 - market_moments.s23 ** 2)
            - market_moments.s12 * (market_moments.s12 * market_moments.s33 - market_moments.s13 * market_moments.s23)
            + market_moments.s13 * (market_moments.s12 * market_moments.s23 - market_moments.s13 * market_moments.s22)
            as determinant,
        case
            when not market_means.uses_lead_lag then 0
            else (market_moments.s22 * market_moments.s33 - market_moments.s23 ** 2) / nullif(determinant, 0)
        end as inverse_11,
        case
            when not market_means.uses_lead_lag then 0
            else (market_moments.s13 * market_moments.s23 - market_moments.s12 * market_moments.s33) / nullif(determinant, 0)
        end as inverse_12,
        case
            when not market_means.uses_lead_lag then 0
            else (market_moments.s12 * market_moments.s23 - market_moments.s13 * market_moments.s22) / nullif(determinant, 0)
        end as inverse_13,
        case
            when not market_means.uses_lead_lag then 1 / nullif(market_moments.s22, 0)
            else (market_moments.s11 * market_moments.s33 - market_moments.s13 ** 2) / nullif(determinant, 0)
        end as inverse_22,
        case
            when not market_means.uses_lead_lag then 0
            else (market_moments.s12 * market_moments.s13 - market_moments.s11 * market_moments.s23) / nullif(determinant, 0)
        end as inverse_23,
        case
            when not market_means.uses_lead_lag then 0
            else (market_moments.s11 * market_moments.s22 - market_moments.s12 ** 2) / nullif(determinant, 0)
        end as inverse_33,
    from market_means
    inner join market_moments
        on market_means.event_id = market_moments.event_id
        and market_means.ticker = market_moments.ticker
),

market_coefficients as (
    select
        *,
        case when estimation_days >= {{ min_estimation_days }} and inverse_22 is not null
            then inverse_11 * c1 + inverse_12 * c2 + inverse_13 * c3 end as beta_lag,
        case when estimation_days >= {{ min_estimation_days }} and inverse_22 is not null
            then inverse_12 * c1 + inverse_22 * c2 + inverse_23 * c3 end as beta_same_day,
        case when estimation_days >= {{ min_estimation_days }} and inverse_22 is not null
            then inverse_13 * c1 + inverse_23 * c2 + inverse_33 * c3 end as beta_lead,
        beta_lag + beta_same_day + beta_lead as beta,
        mean_y - (beta_lag * mean_x1 + beta_same_day * mean_x2 + beta_lead * mean_x3) as alpha,
        case when uses_lead_lag then 4 else 2 end as parameter_count,
    from market_inverse
),

market_residuals as (
    select
        market_days.event_id,
        market_days.ticker,
        sqrt(
            {{ exact_sum(
                '(market_days.y - (market_coefficients.alpha'
                ~ ' + market_coefficients.beta_lag * market_days.x1'
                ~ ' + market_coefficients.beta_same_day * market_days.x2'
                ~ ' + market_coefficients.beta_lead * market_days.x3)) ** 2'
            ) }} / (count(*) - any_value(market_coefficients.parameter_count))
        ) as residual_sd,
    from market_days
    inner join market_coefficients
        on market_days.event_id = market_coefficients.event_id
        and market_days.ticker = market_coefficients.ticker
    where market_coefficients.beta is not null
        and market_coefficients.estimation_days > market_coefficients.parameter_count
    group by market_days.event_id, market_days.ticker
),

-- the sector model: r_i on the group benchmark, as before the market model
sector_days as (
    select
        event_id,
        ticker,
        security_return_local as y,
        benchmark_return_local as b,
    from clean_days
    where benchmark_return_local is not null
),

sector_means as (
    select
        event_id,
        ticker,
        count(*) as sector_estimation_days,
        {{ exact_sum('y') }} / count(*) as mean_y,
        {{ exact_sum('b') }} / count(*) as mean_benchmark_return,
    from sector_days
    group by event_id, ticker
),

sector_moments as (
    select
        sector_means.event_id,
        sector_means.ticker,
        {{ exact_sum('(sector_days.b - sector_means.mean_benchmark_return) ** 2') }} as centred_benchmark_squares,
        {{ exact_sum(
            '(sector_days.b - sector_means.mean_benchmark_return) * (sector_days.y - sector_means.mean_y)'
        ) }} as centred_cross_products,
    from sector_days
    inner join sector_means
        on sector_days.event_id = sector_means.event_id
        and sector_days.ticker = sector_means.ticker
    group by sector_means.event_id, sector_means.ticker
),

sector_coefficients as (
    select
        sector_means.event_id,
        sector_means.ticker,
        sector_means.sector_estimation_days,
        sector_means.mean_benchmark_return,
        sector_moments.centred_benchmark_squares,
        case
            when sector_means.sector_estimation_days >= {{ min_estimation_days }}
                then sector_moments.centred_cross_products / nullif(sector_moments.centred_benchmark_squares, 0)
        end as sector_beta,
        sector_means.mean_y - sector_beta * sector_means.mean_benchmark_return as sector_alpha,
    from sector_means
    inner join sector_moments
        on sector_means.event_id = sector_moments.event_id
        and sector_means.ticker = sector_moments.ticker
),

sector_residuals as (
    select
        sector_days.event_id,
        sector_days.ticker,
        sqrt(
            {{ exact_sum(
                '(sector_days.y - (sector_coefficients.sector_alpha + sector_coefficients.sector_beta * sector_days.b)) ** 2'
            ) }} / (count(*) - 2)
        ) as sector_residual_sd,
    from sector_days
    inner join sector_coefficients
        on sector_days.event_id = sector_coefficients.event_id
        and sector_days.ticker = sector_coefficients.ticker
    where sector_coefficients.sector_beta is not null
    group by sector_days.event_id, sector_days.ticker
),

final as (
    select
        event_days.event_id,
        event_days.ticker,
        event_days.event_trading_day_number,
        event_days.available_at,
        coalesce(market_coefficients.uses_lead_lag, false) as uses_lead_lag,
        coalesce(market_coefficients.estimation_days, 0) as estimation_days,
        market_coefficients.estimation_start_date,
        market_coefficients.estimation_end_date,
        market_coefficients.alpha,
        market_coefficients.beta,
        market_coefficients.beta_lag,
        market_coefficients.beta_same_day,
        market_coefficients.beta_lead,
        market_residuals.residual_sd,
        market_coefficients.mean_x1 as mean_market_return_lag,
        market_coefficients.mean_x2 as mean_market_return,
        market_coefficients.mean_x3 as mean_market_return_lead,
        market_coefficients.inverse_11,
        market_coefficients.inverse_12,
        market_coefficients.inverse_13,
        market_coefficients.inverse_22,
        market_coefficients.inverse_23,
        market_coefficients.inverse_33,
        coalesce(sector_coefficients.sector_estimation_days, 0) as sector_estimation_days,
        sector_coefficients.sector_alpha,
        sector_coefficients.sector_beta,
        sector_residuals.sector_residual_sd,
        sector_coefficients.mean_benchmark_return,
        sector_coefficients.centred_benchmark_squares,
        (select max(inputs_loaded_through) from {{ ref('int_policy_event_days') }}) as inputs_loaded_through,
    from event_days
    left join market_coefficients
        on event_days.event_id = market_coefficients.event_id
        and event_days.ticker = market_coefficients.ticker
    left join market_residuals
        on event_days.event_id = market_residuals.event_id
        and event_days.ticker = market_residuals.ticker
    left join sector_coefficients
        on event_days.event_id = sector_coefficients.event_id
        and event_days.ticker = sector_coefficients.ticker
    left join sector_residuals
        on event_days.event_id = sector_residuals.event_id
        and event_days.ticker = sector_residuals.ticker
)

select * from final
