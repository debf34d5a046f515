-- Market-model event study: cumulative abnormal returns (CAR) of every
-- non-benchmark security around each policy event dated within the price
-- history, against the broad market proxy (Dimson lead/lag betas where the
-- listing and its market close at different times) and, as a second measure,
-- against the group benchmark (sector_*). One row per event and security,
-- known at the close of the last window day (known_at), with the other
-- events whose windows overlap its window. Formulas: docs blocks
-- formula_policy_event_impact_* (_policy_event_impact__docs.md) and those of
-- the event-study building blocks (intermediate/policy_events/_policy_events__docs.md):
-- int_policy_event_days (day 0) -> int_policy_event_window_days (relative
-- trading days) -> int_policy_event_market_models (estimation window) ->
-- int_policy_event_abnormal_returns (abnormal returns, CARs) -> here: the
-- CARs' t-statistics, lineage and change tracking.
-- Incremental (delete+insert on event_id, ticker): int_policy_event_days
-- decides which events a build recomputes (see its header); this table
-- recomputes the events whose int_policy_event_days rows were written since
-- its own last build (or that it lacks a row of), reading those events only
-- (event_study_events_to_rebuild, macros/event_study.sql), and its
-- post-hook deletes the rows int_policy_event_days no longer has.

{{ config(
    materialized='incremental',
    unique_key=['event_id', 'ticker'],
    post_hook="{{ event_study_delete_rows_not_in(this, ref('int_policy_event_days'), ['event_id', 'ticker']) }}",
) }}

{%- set car_windows = event_study_car_windows() %}
{%- set car_start = car_windows | map(attribute='start') | min %}
{%- set car_end = car_windows | map(attribute='end') | max %}
{%- set estimation_window = event_study_estimation_window() %}
{%- set events = event_study_events_to_rebuild(ref('int_policy_event_days')) %}

with event_days as (
    select * from {{ ref('int_policy_event_days') }}
    where {{ event_study_event_filter(events) }}
),

window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
    where {{ event_study_event_filter(events) }}
),

market_models as (
    select * from {{ ref('int_policy_event_market_models') }}
    where {{ event_study_event_filter(events) }}
),

abnormal_returns as (
    select * from {{ ref('int_policy_event_abnormal_returns') }}
    where {{ event_study_event_filter(events) }}
),

-- every event's day 0 and availability on every listing (unfiltered), for the overlaps
all_event_days as (
    select
        event_id,
        ticker,
        event_trading_day_number,
        available_at,
    from {{ ref('int_policy_event_days') }}
    where event_trading_day_number is not null
),

-- other events whose CAR window [a, b] overlaps this one's on the same listing,
-- among those public before this row is known (docs block formula_policy_event_impact_overlap)
overlapping_windows as (
    select
        event_days.event_id,
        event_days.ticker,
        count(*) as overlapping_event_count,
        string_agg(all_event_days.event_id, ',' order by all_event_days.event_id) as overlapping_event_ids,
    from event_days
    inner join all_event_days
        on event_days.ticker = all_event_days.ticker
        and event_days.event_id != all_event_days.event_id
        and abs(event_days.event_trading_day_number - all_event_days.event_trading_day_number)
            <= {{ car_end - car_start }}
        and (event_days.known_at is null or all_event_days.available_at < event_days.known_at)
    group by event_days.event_id, event_days.ticker
),

-- standard errors of each CAR, in percent (docs block formula_policy_event_impact_car_t_stat)
car_standard_errors as (
    select
        abnormal_returns.event_id,
        abnormal_returns.ticker,
        {% for window in car_windows -%}
        {%- set window_days = window.end - window.start + 1 -%}
        {%- set d = {} -%}
        {%- for j, sum_column, mean_column in [
            (1, 'market_return_lag_sum', 'mean_market_return_lag'),
            (2, 'market_return_sum', 'mean_market_return'),
            (3, 'market_return_lead_sum', 'mean_market_return_lead'),
        ] -%}
        {%- do d.update({j: '(abnormal_returns.' ~ sum_column ~ '_' ~ window.name ~ ' - ' ~ window_days ~ ' * market_models.' ~ mean_column ~ ')'}) -%}
        {%- endfor %}
        100 * market_models.residual_sd * sqrt(
            {{ window_days }}
            + {{ window_days * window_days }} / market_models.estimation_days
            + market_models.inverse_11 * {{ d[1] }} * {{ d[1] }}
            + market_models.inverse_22 * {{ d[2] }} * {{ d[2] }}
            + market_models.inverse_33 * {{ d[3] }} * {{ d[3] }}
            + 2 * market_models.inverse_12 * {{ d[1] }} * {{ d[2] }}
            + 2 * market_models.inverse_13 * {{ d[1] }} * {{ d[3] }}
            + 2 * market_models.inverse_23 * {{ d[2] }} * {{ d[3] }}
        ) as car_{{ window.name }}_standard_error_pct,
        100 * market_models.sector_residual_sd * sqrt(
            {{ window_days }}
            + {{ window_days * window_days }} / market_models.sector_estimation_days
            + (abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            * (abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            / market_models.centred_benchmark_squares
        ) as sector_car_{{ window.name }}_standard_error_pct,
        {% endfor %}
    from abnormal_returns
    inner join market_models
        on abnormal_returns.event_id = market_models.event_id
        and abnormal_returns.ticker = market_models.ticker
),

-- lineage: data_source of every price row used (security and benchmark,
-- estimation and CAR windows); load_id of the rows of the CAR windows only.
-- Distinct aggregates keep a few values per event and listing, not its rows.
lineage_sets as (
    select
        event_id,
        ticker,
        array_agg(distinct data_source) filter (where is_used) as security_sources,
        array_agg(distinct market_data_source) filter (where is_used) as market_sources,
        array_agg(distinct benchmark_data_source) filter (where is_used) as benchmark_sources,
        array_agg(distinct load_id) filter (where is_car_day) as security_load_ids,
        array_agg(distinct market_load_id) filter (where is_car_day) as market_load_ids,
        array_agg(distinct benchmark_load_id) filter (where is_car_day) as benchmark_load_ids,
    from (
        select
            *,
            relative_day between {{ car_start }} and {{ car_end }} as is_car_day,
            relative_day between {{ car_start }} and {{ car_end }}
                or (
                    relative_day between {{ estimation_window[0] }} and {{ estimation_window[1] }}
                    and security_return_local is not null
                    and (market_return is not null or benchmark_return_local is not null)
                    and not is_in_other_event_window
                ) as is_used,
        from window_days
    )
    group by event_id, ticker
),

lineage as (
    select
        event_id,
        ticker,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_sources, market_sources, benchmark_sources), source -> source is not null
        ))), ','), '') as data_source,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_load_ids, market_load_ids, benchmark_load_ids), load -> load is not null
        ))), ','), '') as load_id,
    from lineage_sets
),

joined as (
    select
        event_days.event_id,
        event_days.event_date,
        event_days.category,
        event_days.region,
        event_days.title,
        event_days.ticker,
        event_days.group_name,
        event_days.benchmark_ticker,
        event_days.market_ticker,
        event_days.uses_lead_lag,
        event_days.available_at,
        event_days.event_trade_date,
        event_days.event_trading_day_number,
        coalesce(market_models.estimation_days, 0) as estimation_days,
        market_models.estimation_start_date,
        market_models.estimation_end_date,
        market_models.alpha,
        market_models.beta,
        market_models.beta_lag,
        market_models.beta_same_day,
        market_models.beta_lead,
        market_models.residual_sd,
        {% for window in car_windows -%}
        abnormal_returns.car_{{ window.name }}_pct,
        {% endfor -%}
        {% for window in car_windows -%}
        abnormal_returns.car_{{ window.name }}_pct
            / nullif(car_standard_errors.car_{{ window.name }}_standard_error_pct, 0)
            as car_{{ window.name }}_t_stat,
        {% endfor -%}
        coalesce(market_models.sector_estimation_days, 0) as sector_estimation_days,
        market_models.sector_alpha,
        market_models.sector_beta,
        market_models.sector_residual_sd,
        {% for window in car_windows -%}
        abnormal_returns.sector_car_{{ window.name }}_pct,
        abnormal_returns.sector_car_{{ window.name }}_pct
            / nullif(car_standard_errors.sector_car_{{ window.name }}_standard_error_pct, 0)
            as sector_car_{{ window.name }}_t_stat,
        {% endfor -%}
        coalesce(overlapping_windows.overlapping_event_count, 0) as overlapping_event_count,
        overlapping_windows.overlapping_event_ids,
        lineage.data_source,
        lineage.load_id,
        event_days.event_source,
        event_days.window_end_date,
        event_days.known_at,
        (select max(inputs_loaded_through) from {{ ref('int_policy_event_days') }}) as inputs_loaded_through,
    from event_days
    left join market_models
        on event_days.event_id = market_models.event_id
        and event_days.ticker = market_models.ticker
    left join abnormal_returns
        on event_days.event_id = abnormal_returns.event_id
        and event_days.ticker = abnormal_returns.ticker
    left join car_standard_errors
        on event_days.event_id = car_standard_errors.event_id
        and event_days.ticker = car_standard_errors.ticker
    left join lineage
        on event_days.event_id = lineage.event_id
        and event_days.ticker = lineage.ticker
    left join overlapping_windows
        on event_days.event_id = overlapping_windows.event_id
        and event_days.ticker = overlapping_windows.ticker
),

final as (
    select * from joined
)

select * from final
