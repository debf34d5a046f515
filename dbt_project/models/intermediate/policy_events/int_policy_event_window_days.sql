-- The relative trading days of every event and listing with a day 0, from
-- the start of the estimation window to the end of the last CAR window, with
-- the listing's daily_return_local, its market proxy's return over the same
-- interval with the Dimson lag and lead (int_policy_event_market_returns),
-- its group benchmark's daily_return_local on that trade_date, and whether
-- the day lies in another event's CAR window for the listing: one row per
-- event, listing and relative day that has traded. Docs blocks
-- formula_int_policy_event_window_days_relative_day and
-- formula_int_policy_event_window_days_other_event_window (_policy_events__docs.md).
-- Relative days are a join on numbers: the window of day 0 = n is the
-- listing's rows numbered n - 250 .. n + 5 by default (an equi-join on
-- generated numbers, exact however long a trading halt), never a window
-- function over the history. The return tables are joined once per listing
-- day the events read (listing_days), then fanned out to the events: the
-- events' windows of a listing overlap, so per event and day those joins
-- held ~22M rows against 25M-row tables at 5,000 tickers and spilled for
-- over 20 minutes.
-- Incremental, by event (delete+insert on event_id): a table, because four
-- models read it (the market models, the abnormal returns, the residual
-- correlations and policy_event_impact); as a view the full build computed
-- it four times. A build recomputes the events
-- event_study_events_to_rebuild chooses (macros/event_study.sql), the same
-- rule the market models and policy_event_impact follow, and the filter on event_id reaches the
-- int_policy_event_days scan, so the join reads only the return rows of those
-- events' windows; its post-hook deletes the rows of event-listing pairs that
-- no longer have a day 0.

{{ config(
    materialized='incremental',
    unique_key=['event_id'],
    post_hook="{{ event_study_delete_rows_not_in(this, event_study_days_with_day_zero(ref('int_policy_event_days')), ['event_id', 'ticker']) }}",
) }}

{%- set estimation_start = event_study_estimation_window()[0] %}
{%- set car_start = event_study_car_windows() | map(attribute='start') | min %}
{%- set car_end = event_study_car_windows() | map(attribute='end') | max %}
{%- set events = event_study_events_to_rebuild(ref('int_policy_event_days'), day_zero_rows_only=true) %}

with event_days as (
    select * from {{ ref('int_policy_event_days') }}
    where {{ event_study_event_filter(events) }}
),

-- not materialized: each use scans only its columns and rows
daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

market_returns as not materialized (
    select * from {{ ref('int_policy_event_market_returns') }}
),

-- the trading days of every event's CAR window on each listing (unfiltered: another event's window
-- excludes estimation days). A relative day before the CAR window is never in its own event's CAR window
-- (the estimation window must end before it, event_study_estimation_window), so on those days "in another
-- event's CAR window" is "in any event's CAR window": a property of the listing's day, not of the pair
car_window_days as (
    select distinct
        ticker,
        event_trading_day_number + car_days.relative_day as trading_day_number,
    from {{ ref('int_policy_event_days') }}
    cross join range({{ car_start }}, {{ car_end + 1 }}) as car_days (relative_day)
    where event_trading_day_number is not null
),

benchmark_returns as (
    select
        ticker as benchmark_ticker,
        trade_date,
        daily_return_local as benchmark_return_local,
        data_source as benchmark_data_source,
        load_id as benchmark_load_id,
    from daily_returns
    where ticker in (select benchmark_ticker from event_days)
),

-- per listing, the trading-day numbers any of the events' windows reads
listing_bounds as (
    select
        ticker,
        min(event_trading_day_number) + {{ estimation_start }} as first_trading_day_number,
        max(event_trading_day_number) + {{ car_end }} as last_trading_day_number,
    from event_days
    where event_trading_day_number is not null
    group by ticker
),

-- each of those listing days once, with its return, its market proxy's return and whether it lies in an
-- event's CAR window. The events' windows of a listing overlap, so this is a fraction of the window rows:
-- the joins with the return tables (a row per listing and trading day of the history) run once per listing
-- day, not once per event and day
listing_days as (
    select
        security_returns.ticker,
        security_returns.trading_day_number,
        security_returns.trade_date,
        security_returns.daily_return_local,
        security_returns.data_source,
        security_returns.load_id,
        market_returns.market_return,
        market_returns.market_return_lag,
        market_returns.market_return_lead,
        market_returns.market_data_source,
        market_returns.market_load_id,
        car_window_days.trading_day_number is not null as is_in_car_window,
    from daily_returns as security_returns
    inner join listing_bounds
        on security_returns.ticker = listing_bounds.ticker
    left join market_returns
        on security_returns.ticker = market_returns.ticker
        and security_returns.trading_day_number = market_returns.trading_day_number
    left join car_window_days
        on security_returns.ticker = car_window_days.ticker
        and security_returns.trading_day_number = car_window_days.trading_day_number
    where security_returns.trading_day_number
        between listing_bounds.first_trading_day_number and listing_bounds.last_trading_day_number
),

-- the listing's trading-day numbers from the start of the estimation window
-- to the end of the last CAR window around day 0
day_numbers as (
    select
        event_days.event_id,
        event_days.ticker,
        event_days.benchmark_ticker,
        event_days.event_trading_day_number,
        event_days.available_at,
        relative_days.relative_day,
        event_days.event_trading_day_number + relative_days.relative_day as trading_day_number,
    from event_days
    cross join range({{ estimation_start }}, {{ car_end + 1 }}) as relative_days (relative_day)
    where event_days.event_trading_day_number is not null
),

-- those days of the listing, with its return and its benchmark's return on the same
-- trade_date (null when the benchmark has no row that day); an estimation day in an event's
-- CAR window is in another event's (docs block formula_int_policy_event_window_days_other_event_window)
final as (
    select
        day_numbers.event_id,
        day_numbers.ticker,
        day_numbers.relative_day,
        listing_days.trade_date,
        listing_days.daily_return_local as security_return_local,
        listing_days.market_return,
        listing_days.market_return_lag,
        listing_days.market_return_lead,
        benchmark_returns.benchmark_return_local,
        listing_days.data_source,
        listing_days.market_data_source,
        benchmark_returns.benchmark_data_source,
        -- load ids are lineage of the CAR windows only: keep them off the estimation days
        case when day_numbers.relative_day >= {{ car_start }} then listing_days.load_id end as load_id,
        case when day_numbers.relative_day >= {{ car_start }} then listing_days.market_load_id end as market_load_id,
        case
            when day_numbers.relative_day >= {{ car_start }} then benchmark_returns.benchmark_load_id
        end as benchmark_load_id,
        day_numbers.relative_day < {{ car_start }} and listing_days.is_in_car_window as is_in_other_event_window,
        -- change tracking (event_study_events_to_rebuild): the day 0 and availability the row was built from
        day_numbers.event_trading_day_number,
        day_numbers.available_at,
        (select max(inputs_loaded_through) from {{ ref('int_policy_event_days') }}) as inputs_loaded_through,
    from day_numbers
    inner join listing_days
        on day_numbers.ticker = listing_days.ticker
        and day_numbers.trading_day_number = listing_days.trading_day_number
    left join benchmark_returns
        on day_numbers.benchmark_ticker = benchmark_returns.benchmark_ticker
        and listing_days.trade_date = benchmark_returns.trade_date
)

select * from final
