-- Market-model event study: cumulative abnormal returns (CAR) of every
-- non-benchmark security around each policy event dated within the price
-- history. One row per event and security.
--
--   day 0          = the listing's first trading day on or after event_date
--                    (none if the listing started trading after event_date)
--   relative day k = the listing's k-th trading day after (k < 0: before) day 0
--   estimation     = days in var event_study_estimation_window (default -250 .. -30)
--                    on which both the security's and its benchmark's
--                    daily_return_local exist; at least
--                    var event_study_min_estimation_days (default 120) of them
--   beta           = sum((r_m - avg r_m) * (r_i - avg r_i)) / sum((r_m - avg r_m)^2)
--                    (= covar_samp / var_samp), alpha = avg r_i - beta * avg r_m
--   residual_sd    = sqrt(sum(estimation residual^2) / (n - 2))
--   AR (day t)     = r_i,t - (alpha + beta * r_m,t)
--   CAR[a, b]      = 100 * sum of AR over relative days a .. b, null unless every
--                    day of the window has an AR
--   t-stat         = CAR / its standard error, 100 * residual_sd * sqrt(L + L^2 / n
--                    + (sum r_m over the window - L * avg r_m)^2 / sum((r_m - avg r_m)^2)),
--                    L = b - a + 1 (prediction errors of the fitted model)
--
-- Every floating-point sum is exact and order-independent (macros/incremental.sql:
-- fixed-point HUGEINT sums, two passes for the moments), so rebuilds are
-- bit-identical without ordered aggregates, which cost memory per group, and
-- an incremental build equals a full rebuild bit for bit.
--
-- Relative days are a join on numbers: int_daily_returns numbers each
-- listing's trading days (trading_day_number), so the window of day 0 = n is
-- the listing's rows numbered n - 250 .. n + 5 by default (an equi-join on
-- generated numbers, exact however long a trading halt), never a window
-- function over the history.
--
-- Incremental (delete+insert on event_id, ticker): a build recomputes every
-- row of each *affected* event and keeps the others. Every row carries
-- inputs_loaded_through (the newest loaded_at of the policy events and the
-- newest inputs_loaded_through of int_daily_returns when it was built) and
-- window_end_date (the trade date of relative day +5, null until it has
-- traded). With W = the table's newest inputs_loaded_through and d = the
-- earliest trade_date of the int_daily_returns rows rebuilt since
-- (inputs_loaded_through > W; that model rewrites every row from its earliest
-- revised date, so a revision, a new day or a renumbering shows as a suffix
-- of dates), an event is affected when
--   (a) its raw row was loaded after W (new or revised event), or
--   (b) a row of it can have changed: d <= its horizon, where the horizon is
--       window_end_date once the window is complete (the row reads nothing
--       later), else the listing's last trade date if the listing had started
--       trading by event_date (no day 0 yet, or the window still open: the
--       row read every day of the listing up to it, and a new day extends
--       it; a listing that stopped trading stops being recomputed), else
--       never (the listing started after the event: no day 0, and only
--       earlier history, which moves the listing's first trade date, changes
--       that), or
--   (c) a pair of an event in the price history and a listing has no row
--       yet (a new event in the history, a new listing).
-- Nothing loaded since W -> nothing recomputed; a new day recomputes only
-- the events with an open window. d is one date for every listing
-- (int_daily_returns rebuilds all listings from the earliest revised date),
-- so a revision recomputes every event whose windows reach it. Rows of events
-- that left the history or the raw table, and of listings gone, are deleted
-- by the post-hook (macros/event_study.sql). A full build computes every
-- event with the same SQL.

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['event_id', 'ticker'],
    on_schema_change='append_new_columns',
    post_hook="{{ event_study_delete_vanished_rows(this, ref('stg_raw__policy_events'), ref('int_daily_returns')) }}",
) }}

{%- set estimation_window = event_study_estimation_window() %}
{%- set estimation_start = estimation_window[0] %}
{%- set estimation_end = estimation_window[1] %}
{%- set min_estimation_days = event_study_min_estimation_days() %}
{%- set car_windows = event_study_car_windows() %}
{%- set car_start = car_windows | map(attribute='start') | min %}
{%- set car_end = car_windows | map(attribute='end') | max %}
{#- an incremental build needs the change-tracking columns; a table built before them is rebuilt whole #}
{%- set stored_columns = (adapter.get_columns_in_relation(this) | map(attribute='name') | list) if is_incremental() else [] %}
{%- set is_incremental_build = 'inputs_loaded_through' in stored_columns and 'window_end_date' in stored_columns %}

-- not materialized: each use scans only its columns and rows (DuckDB would otherwise materialize
-- every column of the returns once, a cost that dwarfs an incremental build)
with policy_events as not materialized (
    select * from {{ ref('stg_raw__policy_events') }}
),

daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

price_history as (
    select
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date,
    from daily_returns
),

events_in_history as (
    select policy_events.*
    from policy_events
    cross join price_history
    where policy_events.event_date between price_history.first_trade_date and price_history.last_trade_date
),

listings as (
    select
        ticker,
        any_value(group_name) as group_name,
        any_value(benchmark_ticker) as benchmark_ticker,
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date,
    from daily_returns
    where group_name != 'benchmark'
    group by ticker
),

{% if is_incremental_build %}
-- change tracking (see the header): W, d and the events to recompute
watermark as (
    select max(inputs_loaded_through) as loaded_through from {{ this }}
),

changed_returns as (
    select min(trade_date) as earliest_changed_date
    from daily_returns
    where inputs_loaded_through > (select loaded_through from watermark)
),

stored_rows as (
    select
        event_id,
        ticker,
        window_end_date,
    from {{ this }}
),

affected_events as (
    -- (a) event rows loaded since the last build (or a table without a watermark)
    select event_id
    from events_in_history
    where loaded_at > (select loaded_through from watermark)
        or (select loaded_through from watermark) is null

    union

    -- (b) rows whose horizon reaches the earliest rebuilt return
    select stored_rows.event_id
    from stored_rows
    inner join events_in_history
        on stored_rows.event_id = events_in_history.event_id
    inner join listings
        on stored_rows.ticker = listings.ticker
    where (select earliest_changed_date from changed_returns) <= case
        when stored_rows.window_end_date is not null then stored_rows.window_end_date
        when events_in_history.event_date >= listings.first_trade_date then listings.last_trade_date
    end

    union

    -- (c) event-listing pairs without a row yet
    select events_in_history.event_id
    from events_in_history
    cross join listings
    where not exists (
        select 1
        from stored_rows
        where stored_rows.event_id = events_in_history.event_id
            and stored_rows.ticker = listings.ticker
    )
),

study_events as (
    select events_in_history.*
    from events_in_history
    where events_in_history.event_id in (select event_id from affected_events)
),
{% else %}
study_events as (
    select * from events_in_history
),
{% endif %}

benchmark_returns as (
    select
        ticker as benchmark_ticker,
        trade_date,
        daily_return_local as benchmark_return_local,
        data_source as benchmark_data_source,
        load_id as benchmark_load_id,
    from daily_returns
    where ticker in (select benchmark_ticker from listings)
),

event_listings as (
    select
        study_events.event_id,
        study_events.event_date,
        study_events.category,
        study_events.region,
        study_events.title,
        study_events.data_source as event_source,
        listings.ticker,
        listings.group_name,
        listings.benchmark_ticker,
        listings.first_trade_date,
    from study_events
    cross join listings
),

-- the listings' trading days on or after the earliest event date studied (day 0 candidates)
listing_days as (
    select
        ticker,
        trade_date,
        trading_day_number,
    from daily_returns
    where group_name != 'benchmark'
        and trade_date >= (select min(event_date) from study_events)
),

-- day 0: first trading day of the listing on or after the event date; none
-- when the listing only started trading after the event
event_days as (
    select
        event_listings.* exclude (first_trade_date),
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then listing_days.trade_date
        end as event_trade_date,
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then listing_days.trading_day_number
        end as event_trading_day_number,
    from event_listings
    asof left join listing_days
        on event_listings.ticker = listing_days.ticker
        and listing_days.trade_date >= event_listings.event_date
),

-- the listing's trading-day numbers from the start of the estimation window
-- to the end of the last CAR window around day 0
event_study_day_numbers as (
    select
        event_days.event_id,
        event_days.ticker,
        event_days.benchmark_ticker,
        relative_days.relative_day,
        event_days.event_trading_day_number + relative_days.relative_day as trading_day_number,
    from event_days
    cross join range({{ estimation_start }}, {{ car_end + 1 }}) as relative_days (relative_day)
    where event_days.event_trading_day_number is not null
),

-- those days of the listing (an equi-join on the numbers reads only the rows
-- the windows need), with its return and its benchmark's return on the same
-- trade_date (null when the benchmark has no row that day)
event_study_days as (
    select
        event_study_day_numbers.event_id,
        event_study_day_numbers.ticker,
        event_study_day_numbers.relative_day,
        security_returns.trade_date,
        security_returns.daily_return_local as security_return_local,
        benchmark_returns.benchmark_return_local,
        security_returns.data_source,
        benchmark_returns.benchmark_data_source,
        -- load ids are lineage of the CAR windows only: keep them off the estimation days
        case
            when event_study_day_numbers.relative_day >= {{ car_start }} then security_returns.load_id
        end as load_id,
        case
            when event_study_day_numbers.relative_day >= {{ car_start }} then benchmark_returns.benchmark_load_id
        end as benchmark_load_id,
    from event_study_day_numbers
    inner join daily_returns as security_returns
        on event_study_day_numbers.ticker = security_returns.ticker
        and event_study_day_numbers.trading_day_number = security_returns.trading_day_number
    left join benchmark_returns
        on event_study_day_numbers.benchmark_ticker = benchmark_returns.benchmark_ticker
        and security_returns.trade_date = benchmark_returns.trade_date
),

-- the trade date of the last window day (relative day car_end), once it has traded
window_ends as (
    select
        event_id,
        ticker,
        max(trade_date) as window_end_date,
    from event_study_days
    where relative_day = {{ car_end }}
    group by event_id, ticker
),

estimation_days as (
    select *
    from event_study_days
    where
        relative_day between {{ estimation_start }} and {{ estimation_end }}
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

market_models as (
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
estimation_residuals as (
    select
        estimation_days.event_id,
        estimation_days.ticker,
        sqrt(
            {{ exact_sum(
                '(estimation_days.security_return_local'
                ~ ' - (market_models.alpha + market_models.beta * estimation_days.benchmark_return_local)) ** 2'
            ) }} / (count(*) - 2)
        ) as residual_sd,
    from estimation_days
    inner join market_models
        on estimation_days.event_id = market_models.event_id
        and estimation_days.ticker = market_models.ticker
    where market_models.beta is not null
    group by estimation_days.event_id, estimation_days.ticker
),

abnormal_returns as (
    select
        event_study_days.event_id,
        event_study_days.ticker,
        event_study_days.relative_day,
        event_study_days.security_return_local
        - (market_models.alpha + market_models.beta * event_study_days.benchmark_return_local)
            as abnormal_return,
        event_study_days.benchmark_return_local,
    from event_study_days
    inner join market_models
        on event_study_days.event_id = market_models.event_id
        and event_study_days.ticker = market_models.ticker
    where event_study_days.relative_day between {{ car_start }} and {{ car_end }}
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

-- standard error of each CAR, in percent: the CAR is a sum of L = b - a + 1
-- out-of-sample prediction errors of the market model, whose variance is
--   residual_sd^2 * (L + L^2 / n + (sum r_m - L * avg r_m)^2 / sum((r_m - avg r_m)^2))
-- (the sums of r_m over the CAR window and, for avg and centred squares, the
-- estimation days; n = estimation_days)
car_standard_errors as (
    select
        cumulative_abnormal_returns.event_id,
        cumulative_abnormal_returns.ticker,
        {% for window in car_windows -%}
        {%- set window_days = window.end - window.start + 1 -%}
        100 * estimation_residuals.residual_sd * sqrt(
            {{ window_days }}
            + {{ window_days * window_days }} / market_models.estimation_days
            + (cumulative_abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            * (cumulative_abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            / market_models.centred_benchmark_squares
        ) as car_{{ window.name }}_standard_error_pct,
        {% endfor %}
    from cumulative_abnormal_returns
    inner join market_models
        on cumulative_abnormal_returns.event_id = market_models.event_id
        and cumulative_abnormal_returns.ticker = market_models.ticker
    inner join estimation_residuals
        on cumulative_abnormal_returns.event_id = estimation_residuals.event_id
        and cumulative_abnormal_returns.ticker = estimation_residuals.ticker
),

-- lineage: data_source of every price row used (security and benchmark,
-- estimation and CAR windows); load_id of the rows of the CAR windows only.
-- Distinct aggregates keep a few values per event and listing, not its rows.
lineage_sets as (
    select
        event_id,
        ticker,
        array_agg(distinct data_source) filter (where is_used) as security_sources,
        array_agg(distinct benchmark_data_source) filter (where is_used) as benchmark_sources,
        array_agg(distinct load_id) filter (where is_car_day) as security_load_ids,
        array_agg(distinct benchmark_load_id) filter (where is_car_day) as benchmark_load_ids,
    from (
        select
            *,
            relative_day between {{ car_start }} and {{ car_end }} as is_car_day,
            relative_day between {{ car_start }} and {{ car_end }}
                or (
                    relative_day between {{ estimation_start }} and {{ estimation_end }}
                    and security_return_local is not null
                    and benchmark_return_local is not null
                ) as is_used,
        from event_study_days
    )
    group by event_id, ticker
),

lineage as (
    select
        event_id,
        ticker,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_sources, benchmark_sources), source -> source is not null
        ))), ','), '') as data_source,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_load_ids, benchmark_load_ids), load -> load is not null
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
        event_days.event_trade_date,
        coalesce(market_models.estimation_days, 0) as estimation_days,
        market_models.estimation_start_date,
        market_models.estimation_end_date,
        market_models.alpha,
        market_models.beta,
        estimation_residuals.residual_sd,
        {% for window in car_windows -%}
        cumulative_abnormal_returns.car_{{ window.name }}_pct,
        {% endfor -%}
        {% for window in car_windows -%}
        cumulative_abnormal_returns.car_{{ window.name }}_pct
            / nullif(car_standard_errors.car_{{ window.name }}_standard_error_pct, 0)
            as car_{{ window.name }}_t_stat,
        {% endfor -%}
        lineage.data_source,
        lineage.load_id,
        event_days.event_source,
        window_ends.window_end_date,
        {{ event_study_inputs_loaded_through('policy_events', 'daily_returns') }} as inputs_loaded_through,
    from event_days
    left join market_models
        on event_days.event_id = market_models.event_id
        and event_days.ticker = market_models.ticker
    left join estimation_residuals
        on event_days.event_id = estimation_residuals.event_id
        and event_days.ticker = estimation_residuals.ticker
    left join cumulative_abnormal_returns
        on event_days.event_id = cumulative_abnormal_returns.event_id
        and event_days.ticker = cumulative_abnormal_returns.ticker
    left join car_standard_errors
        on event_days.event_id = car_standard_errors.event_id
        and event_days.ticker = car_standard_errors.ticker
    left join window_ends
        on event_days.event_id = window_ends.event_id
        and event_days.ticker = window_ends.ticker
    left join lineage
        on event_days.event_id = lineage.event_id
        and event_days.ticker = lineage.ticker
),

final as (
    select * from joined
)

select * from final
