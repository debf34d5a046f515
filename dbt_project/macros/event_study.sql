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
    Change tracking of the event study (the boundary is decided in
    int_policy_event_days; see its header).

    event_study_inputs_loaded_through(events, returns): the newest loaded_at
    of the policy events and the newest inputs_loaded_through of the returns
    (int_daily_returns, itself change-tracked): the watermark each row of
    int_policy_event_days carries.

    event_study_delete_vanished_rows(target, events, returns): the post-hook
    of int_policy_event_days that deletes the rows of events no longer in the
    raw table or no longer dated within the price history, and of tickers no
    longer listed (an incremental build only inserts, it never sees what
    disappeared).

    event_study_events_to_rebuild(event_days, day_zero_rows_only=false): for
    a model that follows int_policy_event_days (int_policy_event_window_days,
    int_policy_event_market_models, policy_event_impact), the event_ids to recompute: those with a row
    written into `event_days` since this model's last build (its newest
    inputs_loaded_through), or with a row this model lacks (with
    day_zero_rows_only, a row with a day 0: a model with no rows for a
    listing without one, like the window days), and
    the neighbours of an event whose day 0 or available_at moved, appeared or
    vanished on a listing: the events of that listing whose estimation window
    or CAR window (which exclude / flag other events' windows) reaches that
    event's CAR window. A list of strings, run when the model runs, or none
    for every event (a full build, or a table without change tracking).

    event_study_event_filter(events): that choice as a predicate on event_id,
    with the ids as literals (a subquery would not be pushed), for a model's
    CTEs over the tables it reads. It reaches the scans of a view only if the
    view reads each CTE once: DuckDB computes a CTE read twice (materialises
    it) for every event before the filter applies. The event-study models a
    follower reads for a few events are therefore tables (at 5,000 tickers
    the market models as a view cost 30 s per read, for one event or all).

    event_study_delete_rows_not_in(target, source, keys): a follower's
    post-hook (an incremental build only inserts): deletes its rows whose
    keys are no longer in `source` -- policy_event_impact's (event_id, ticker)
    not in int_policy_event_days, int_policy_event_window_days' not in
    event_study_days_with_day_zero(int_policy_event_days) (its rows with a
    day 0, as a subquery; int_policy_event_market_models' likewise),
    policy_event_group_impact's and int_policy_event_residual_correlations'
    (event_id, group_name) not in policy_event_impact.

    event_study_impact_digest(rows): a digest of the values of an (event,
    group)'s policy_event_impact rows (the XOR of the rows' hashes, a UBIGINT, lineage
    columns aside, so an incremental build and a full one agree), which
    policy_event_group_impact and int_policy_event_residual_correlations
    store with each row. Everything their rows are
    computed from -- the CARs, their t-statistics, the market models' fit and
    the estimation windows the residual correlations use -- shows in those
    values, so an unchanged digest means an unchanged row (its load_id may
    then keep the loads of the identical values it was computed from).
    event_study_group_events_to_rebuild(impact): the event_ids whose digest
    differs from the stored one (or that appeared or vanished); none for every
    event (a full build, or a table without the digest).
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

{% macro event_study_days_with_day_zero(event_days) -%}
    (select * from {{ event_days }} where event_trading_day_number is not null)
{%- endmacro %}

{% macro event_study_events_to_rebuild(event_days, day_zero_rows_only=false) -%}
    {%- if not (is_incremental() and tracks_changes(this)) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if 'event_trading_day_number' not in column_names(this) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set car_windows = event_study_car_windows() -%}
    {%- set car_start = car_windows | map(attribute='start') | min -%}
    {%- set car_end = car_windows | map(attribute='end') | max -%}
    {%- set estimation_start = event_study_estimation_window()[0] -%}
    {%- set query -%}
        -- what each stored listing was built from, read once (int_policy_event_window_days holds ~250 rows
        -- per listing: three scans of it were most of a day run's time in this model)
        with stored as materialized (
            select distinct event_id, ticker, event_trading_day_number, available_at from {{ this }}
        ),

        moved as (
            (
                select event_id, ticker, event_trading_day_number, available_at from {{ event_days }}
                except
                select event_id, ticker, event_trading_day_number, available_at from stored
            )
            union all
            (
                select event_id, ticker, event_trading_day_number, available_at from stored
                except
                select event_id, ticker, event_trading_day_number, available_at from {{ event_days }}
            )
        )
        select distinct neighbours.event_id
        from {{ event_days }} as neighbours
        inner join moved
            on neighbours.ticker = moved.ticker
            and neighbours.event_trading_day_number + {{ estimation_start }}
                <= moved.event_trading_day_number + {{ car_end }}
            and neighbours.event_trading_day_number + {{ car_end + 1 }}
                >= moved.event_trading_day_number + {{ car_start }}
        union
        select distinct event_days.event_id
        from {{ event_days }} as event_days
        where event_days.inputs_loaded_through > (select max(inputs_loaded_through) from {{ this }})
            or (select max(inputs_loaded_through) from {{ this }}) is null
            or (
                {{ "event_days.event_trading_day_number is not null and" if day_zero_rows_only }}
                not exists (
                    select 1
                    from stored
                    where stored.event_id = event_days.event_id
                        and stored.ticker = event_days.ticker
                )
            )
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{% macro event_study_event_filter(events) -%}
    {%- if events is none -%}
        true
    {%- elif events | length == 0 -%}
        false
    {%- else -%}
        event_id in (
            {%- for event_id in events %}
            {{ sql_literal(event_id) }}{{ "," if not loop.last }}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{% macro event_study_delete_rows_not_in(target, source, keys) -%}
    delete from {{ target }} as stored
    where not exists (
        select 1
        from {{ source }} as current_rows
        where {{ keys_match(keys, 'current_rows', 'stored') }}
    )
{%- endmacro %}

{% macro event_study_impact_digest(rows) -%}
    bit_xor(hash(*columns({{ rows }}.* exclude (load_id, inputs_loaded_through))))
{%- endmacro %}

{% macro event_study_group_events_to_rebuild(impact) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if 'impact_rows_digest' not in column_names(this) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        with current_digests as (
            select event_id, group_name, {{ event_study_impact_digest('impact') }} as impact_rows_digest
            from {{ impact }} as impact
            group by event_id, group_name
        )
        select distinct coalesce(current_digests.event_id, stored.event_id)
        from current_digests
        full outer join {{ this }} as stored
            on current_digests.event_id = stored.event_id
            and current_digests.group_name = stored.group_name
        where current_digests.impact_rows_digest is distinct from stored.impact_rows_digest
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
