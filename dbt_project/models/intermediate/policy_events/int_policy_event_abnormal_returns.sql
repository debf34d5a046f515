-- Abnormal returns of every event and listing with a market model, summed
-- into the cumulative abnormal return (CAR) of each window: one row per event
-- and listing. Formulas: docs blocks formula_int_policy_event_abnormal_returns_*
-- (_policy_events__docs.md); the windows are event_study_car_windows()
-- (macros/event_study.sql). Sums are exact fixed-point sums
-- (macros/incremental.sql). A view: a filter on event_id reaches its scans.

{%- set car_windows = event_study_car_windows() %}
{%- set car_start = car_windows | map(attribute='start') | min %}
{%- set car_end = car_windows | map(attribute='end') | max %}

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
        window_days.security_return_local
        - (market_models.alpha + market_models.beta * window_days.benchmark_return_local)
            as abnormal_return,
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
        case
            when count(abnormal_return)
                    filter (where relative_day between {{ window.start }} and {{ window.end }})
                = {{ window.end - window.start + 1 }}
                then 100 * {{ from_fixed_point(
                    'sum(' ~ fixed_point('abnormal_return') ~ ') filter (where relative_day between '
                    ~ window.start ~ ' and ' ~ window.end ~ ')'
                ) }}
        end as car_{{ window.name }}_pct,
        {{ from_fixed_point(
            'sum(' ~ fixed_point('benchmark_return_local') ~ ') filter (where relative_day between '
            ~ window.start ~ ' and ' ~ window.end ~ ')'
        ) }} as benchmark_return_sum_{{ window.name }},
        {% endfor %}
    from abnormal_returns
    group by event_id, ticker
),

final as (
    select * from cumulative_abnormal_returns
)

select * from final
