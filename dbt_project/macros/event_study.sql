{#-
    Settings of the policy-event study (policy_event_impact and
    policy_event_group_impact), in one place.

    event_study_car_windows(): the CAR windows, in the listing's own trading
    days relative to day 0 (the first trading day on or after the event date).
    `name` is the column prefix: car_<name>_pct, car_<name>_t_stat, ...

    event_study_estimation_window(): [start, end] from the var
    `event_study_estimation_window` (dbt_project.yml), validated: two integers,
    start < end, and end before the earliest CAR window day, so the event
    itself never enters the market-model estimate.

    event_study_min_estimation_days(): the var
    `event_study_min_estimation_days`, validated: >= 3 (so the residual
    standard deviation has at least one degree of freedom) and no more than
    the days in the estimation window.
-#}
{% macro event_study_car_windows() -%}
    {{ return([
        {'start': -1, 'end': 1, 'name': 'm1_p1'},
        {'start': 0, 'end': 5, 'name': '0_p5'},
        {'start': -5, 'end': 5, 'name': 'm5_p5'},
    ]) }}
{%- endmacro %}

{% macro event_study_estimation_window() -%}
    {%- set estimation_window = var('event_study_estimation_window') -%}
    {%- set first_car_day = event_study_car_windows() | map(attribute='start') | min -%}
    {%- if estimation_window is string
        or estimation_window | length != 2
        or estimation_window[0] is not integer
        or estimation_window[1] is not integer
        or estimation_window[0] >= estimation_window[1]
        or estimation_window[1] >= first_car_day -%}
        {{ exceptions.raise_compiler_error(
            "Invalid var event_study_estimation_window: " ~ estimation_window
            ~ ". Expected [start, end] in trading days relative to the event day, integers with start < end < "
            ~ first_car_day ~ " (before the earliest CAR window day), e.g. [-250, -30]."
        ) }}
    {%- endif -%}
    {{ return(estimation_window) }}
{%- endmacro %}

{% macro event_study_min_estimation_days() -%}
    {%- set min_estimation_days = var('event_study_min_estimation_days') -%}
    {%- set estimation_window = event_study_estimation_window() -%}
    {%- set window_days = estimation_window[1] - estimation_window[0] + 1 -%}
    {%- if min_estimation_days is not integer or min_estimation_days < 3 or min_estimation_days > window_days -%}
        {{ exceptions.raise_compiler_error(
            "Invalid var event_study_min_estimation_days: " ~ min_estimation_days
            ~ ". Expected an integer from 3 (the residual standard deviation needs n - 2 >= 1) to "
            ~ window_days ~ " (the days in event_study_estimation_window " ~ estimation_window ~ "), e.g. 120."
        ) }}
    {%- endif -%}
    {{ return(min_estimation_days) }}
{%- endmacro %}

{#-
    Change tracking of policy_event_impact (see the model's header).

    event_study_inputs_loaded_through(events, returns): the newest loaded_at
    of the policy events and the newest inputs_loaded_through of the returns
    (int_daily_returns, itself change-tracked): the watermark each row carries.

    event_study_delete_vanished_rows(target, events, returns): the post-hook
    that deletes the rows of events no longer in the raw table or no longer
    dated within the price history, and of tickers no longer listed (an
    incremental build only inserts, it never sees what disappeared).
-#}
{% macro event_study_inputs_loaded_through(events, returns) -%}
    greatest(
        (select max(loaded_at) from {{ events }}),
        (select max(inputs_loaded_through) from {{ returns }})
    )
{%- endmacro %}

{% macro event_study_delete_vanished_rows(target, events, returns) -%}
    delete from {{ target }}
    where event_id not in (
        select event_id
        from {{ events }}
        where event_id is not null
            and event_date between (select min(trade_date) from {{ returns }})
            and (select max(trade_date) from {{ returns }})
    )
    or ticker not in (
        select distinct ticker
        from {{ returns }}
        where ticker is not null
            and group_name != 'benchmark'
    )
{%- endmacro %}
