-- Abnormal returns of every event and listing with a fitted model, summed
-- into the cumulative abnormal return (CAR) of each window, for both models
-- (int_policy_event_market_models): against the broad market (car_*) and
-- against the group benchmark (sector_car_*). One row per event and listing.
-- Formulas: docs blocks formula_int_policy_event_abnormal_returns_*
-- (_policy_events__docs.md); the windows are event_study_car_windows()
-- (macros/event_study.sql). Sums are exact fixed-point sums
-- (macros/incremental.sql). A view: a filter on event_id reaches its scans.

{%- set car_windows = event_study_car_windows() %}
{%- set car_start = car_windows | map(attribute='start') | min %}
{%- set car_end = car_windows | map(attribute='end') | max %}
{#- column -> the regressor summed over each window for the standard errors #}
{%- set window_sums = {
    'market_return_lag_sum': 'market_x1',
    'market_return_sum': 'market_x2',
    'market_return_lead_sum': 'market_x3',
    'benchmark_return_sum': 'benchmark_return_local',
} %}

with window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
),

market_models as (
    select * from {{ ref('int_policy_event_market_models') }}
),

abnormal_returns as (
    select
        window_days.event_id,
        window_days.ticker,
        window_days.relative_day,
        case when market_models.uses_lead_lag then window_days.market_return_lag else 0 end as market_x1,
        window_days.market_return as market_x2,
        case when market_models.uses_lead_lag then window_days.market_return_lead else 0 end as market_x3,
        window_days.security_return_local
        - (
            market_models.alpha
            + market_models.beta_lag * market_x1
            + market_models.beta_same_day * market_x2
            + market_models.beta_lead * market_x3
        ) as abnormal_return,
        window_days.security_return_local
        - (market_models.sector_alpha + market_models.sector_beta * window_days.benchmark_return_local)
            as sector_abnormal_return,
        window_days.benchmark_return_local,
    from window_days
    inner join market_models
        on window_days.event_id = market_models.event_id
        and window_days.ticker = market_models.ticker
    where window_days.relative_day between {{ car_start }} and {{ car_end }}
),

cumulative_abnormal_returns as (
    select
        event_id,
        ticker,
        {% for window in car_windows -%}
        {%- set in_window = 'relative_day between ' ~ window.start ~ ' and ' ~ window.end %}
        {%- for prefix, column in [('', 'abnormal_return'), ('sector_', 'sector_abnormal_return')] %}
        case
            when count({{ column }}) filter (where {{ in_window }}) = {{ window.end - window.start + 1 }}
                then 100 * {{ from_fixed_point(
                    'sum(' ~ fixed_point(column) ~ ') filter (where ' ~ in_window ~ ')'
                ) }}
        end as {{ prefix }}car_{{ window.name }}_pct,
        {%- endfor %}
        {%- for name, column in window_sums.items() %}
        {{ from_fixed_point(
            'sum(' ~ fixed_point(column) ~ ') filter (where ' ~ in_window ~ ')'
        ) }} as {{ name }}_{{ window.name }},
        {%- endfor %}
        {% endfor %}
    from abnormal_returns
    group by event_id, ticker
),

final as (
    select * from cumulative_abnormal_returns
)

select * from final
