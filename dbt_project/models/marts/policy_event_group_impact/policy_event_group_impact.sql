-- Group-level average cumulative abnormal return (CAR) around each policy
-- event, with a cross-sectional t-test and the clustering-robust
-- Kolari-Pynnönen adjusted BMP test. One row per event and group
-- (china_tech, us_ai_leader), from the security-level CARs and their
-- t-statistics in policy_event_impact and the residual cross-correlations of
-- int_policy_event_residual_correlations. Formulas: docs blocks
-- formula_policy_event_group_impact_t_test and
-- formula_policy_event_group_impact_adjusted_bmp (_policy_event_group_impact__docs.md). Sums are ordered by ticker, so
-- rebuilds are bit-identical.
-- Incremental (delete+insert on event_id, group_name): each row stores the
-- digest of the policy_event_impact rows it was computed from; a build
-- recomputes the events whose digest changed (event_study_group_events_to_rebuild,
-- macros/event_study.sql), the rule int_policy_event_residual_correlations
-- (a table built by it just before) follows too: a table rebuilt whole cost
-- minutes a day at 500 tickers x 20 years.

{{ config(
    materialized='incremental',
    unique_key=['event_id', 'group_name'],
    post_hook="{{ event_study_delete_rows_not_in(this, ref('policy_event_impact'), ['event_id', 'group_name']) }}",
) }}

{%- set car_windows = event_study_car_windows() %}
{%- set events = event_study_group_events_to_rebuild(ref('policy_event_impact')) %}

with event_impact as (
    select * from {{ ref('policy_event_impact') }}
    where {{ event_study_event_filter(events) }}
),

residual_correlations as (
    select * from {{ ref('int_policy_event_residual_correlations') }}
    where {{ event_study_event_filter(events) }}
),

group_means as (
    select
        event_id,
        event_date,
        category,
        region,
        title,
        event_source,
        group_name,
        count(*) as security_count,
        count(event_trade_date) as day_zero_count,
        max(known_at) as known_at,
        count(*) filter (where known_at is null) as incomplete_window_count,
        {% for window in car_windows -%}
        count(car_{{ window.name }}_t_stat) as scar_{{ window.name }}_n,
        {{ exact_sum('car_' ~ window.name ~ '_t_stat') }}
            / nullif(count(car_{{ window.name }}_t_stat), 0) as scar_{{ window.name }}_mean,
        {% endfor -%}
        {% for window in car_windows -%}
        count(car_{{ window.name }}_pct) as car_{{ window.name }}_n,
        {{ exact_sum('car_' ~ window.name ~ '_pct') }}
            / nullif(count(car_{{ window.name }}_pct), 0) as car_{{ window.name }}_mean_pct,
        {% endfor -%}
        {{ event_study_impact_digest('event_impact') }} as impact_rows_digest,
    from event_impact
    group by event_id, event_date, category, region, title, event_source, group_name
),

group_squared_deviations as (
    select
        event_impact.event_id,
        event_impact.group_name,
        {% for window in car_windows -%}
        sum(
            (event_impact.car_{{ window.name }}_pct - group_means.car_{{ window.name }}_mean_pct) ** 2
            order by event_impact.ticker
        ) as car_{{ window.name }}_squared_deviations,
        sum(
            (event_impact.car_{{ window.name }}_t_stat - group_means.scar_{{ window.name }}_mean) ** 2
            order by event_impact.ticker
        ) as scar_{{ window.name }}_squared_deviations,
        {% endfor %}
    from event_impact
    inner join group_means
        on event_impact.event_id = group_means.event_id
        and event_impact.group_name = group_means.group_name
    group by event_impact.event_id, event_impact.group_name
),

group_statistics as (
    select
        group_means.*,
        {% for window in car_windows -%}
        case
            when group_means.car_{{ window.name }}_n >= 2
                then sqrt(
                    group_squared_deviations.car_{{ window.name }}_squared_deviations
                    / (group_means.car_{{ window.name }}_n - 1)
                )
        end as car_{{ window.name }}_sd_pct,
        case
            when group_means.scar_{{ window.name }}_n >= 2
                then sqrt(
                    group_squared_deviations.scar_{{ window.name }}_squared_deviations
                    / (group_means.scar_{{ window.name }}_n - 1)
                )
        end as scar_{{ window.name }}_sd,
        {% endfor %}
    from group_means
    inner join group_squared_deviations
        on group_means.event_id = group_squared_deviations.event_id
        and group_means.group_name = group_squared_deviations.group_name
),

-- lineage: the distinct data_source and load_id values of the group's
-- security rows for the event (each may itself be a comma-separated list)
lineage_values as (
    select
        event_id,
        group_name,
        unnest(string_split(data_source, ',')) as data_source,
        null as load_id,
    from event_impact
    union all
    select
        event_id,
        group_name,
        null as data_source,
        unnest(string_split(load_id, ',')) as load_id,
    from event_impact
),

lineage as (
    select
        event_id,
        group_name,
        {{ distinct_values('data_source') }} as data_source,
        {{ distinct_values('load_id') }} as load_id,
    from lineage_values
    group by event_id, group_name
),

joined as (
    select
        group_statistics.event_id,
        group_statistics.event_date,
        group_statistics.category,
        group_statistics.region,
        group_statistics.title,
        group_statistics.group_name,
        group_statistics.security_count,
        group_statistics.day_zero_count,
        {% for window in car_windows -%}
        group_statistics.car_{{ window.name }}_n,
        group_statistics.car_{{ window.name }}_mean_pct,
        group_statistics.car_{{ window.name }}_sd_pct,
        group_statistics.car_{{ window.name }}_mean_pct
            / nullif(group_statistics.car_{{ window.name }}_sd_pct / sqrt(group_statistics.car_{{ window.name }}_n), 0)
            as car_{{ window.name }}_t_stat,
        group_statistics.scar_{{ window.name }}_n as car_{{ window.name }}_bmp_n,
        group_statistics.scar_{{ window.name }}_mean * sqrt(group_statistics.scar_{{ window.name }}_n)
            / nullif(group_statistics.scar_{{ window.name }}_sd, 0) as car_{{ window.name }}_bmp_t_stat,
        car_{{ window.name }}_bmp_t_stat * sqrt(
            (1 - residual_correlations.mean_residual_correlation)
            / (1 + (group_statistics.scar_{{ window.name }}_n - 1) * residual_correlations.mean_residual_correlation)
        ) as car_{{ window.name }}_kp_t_stat,
        {% endfor -%}
        residual_correlations.mean_residual_correlation,
        coalesce(residual_correlations.residual_pair_count, 0) as residual_pair_count,
        group_statistics.incomplete_window_count,
        case when group_statistics.incomplete_window_count = 0 then group_statistics.known_at end as known_at,
        lineage.data_source,
        lineage.load_id,
        group_statistics.event_source,
        group_statistics.impact_rows_digest,
    from group_statistics
    left join lineage
        on group_statistics.event_id = lineage.event_id
        and group_statistics.group_name = lineage.group_name
    left join residual_correlations
        on group_statistics.event_id = residual_correlations.event_id
        and group_statistics.group_name = residual_correlations.group_name
),

final as (
    select * from joined
)

select * from final
