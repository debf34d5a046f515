-- Day 0 of every policy event dated within the price history for every
-- non-benchmark listing: one row per event and listing, with the listing's
-- trading-day number of day 0 (relative days are offsets from it), the
-- trade date of the last window day and the instant the window is known.
-- Day 0 is the listing's first session whose close comes after the event's
-- available_at (known_before_close, macros/point_in_time.sql). Docs blocks
-- formula_int_policy_event_days_event_trade_date,
-- formula_int_policy_event_days_window_end_date and
-- formula_int_policy_event_days_known_at (_policy_events__docs.md).
--
-- The event study's incremental boundary is decided here, by event
-- (delete+insert on event_id, ticker): docs block
-- int_policy_event_days_change_tracking (_policy_events__docs.md).
-- int_policy_event_window_days, int_policy_event_market_models and
-- policy_event_impact recompute the events this table rewrote (the abnormal
-- returns between them are a view). The post-hook deletes the rows of events and
-- listings gone upstream (macros/event_study.sql).

{{ config(
    materialized='incremental',
    unique_key=['event_id', 'ticker'],
    post_hook="{{ event_study_delete_vanished_rows(this, ref('stg_raw__policy_events'), ref('int_daily_returns')) }}",
) }}

{%- set car_end = event_study_car_windows() | map(attribute='end') | max %}
{#- an incremental build needs the change-tracking columns; a table built before them is rebuilt whole #}
{%- set stored_columns = column_names(this) if is_incremental() else [] %}
{%- set is_incremental_build = 'inputs_loaded_through' in stored_columns and 'known_at' in stored_columns %}

-- not materialized: each use scans only its columns and rows
with policy_events as not materialized (
    select * from {{ ref('stg_raw__policy_events') }}
),

daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

-- the listings' days with their session close and their market's (not materialized: scanned by column)
market_returns as not materialized (
    select * from {{ ref('int_policy_event_market_returns') }}
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

-- each listing's market proxy, and whether the two close at different times
listing_markets as (
    select
        ticker,
        any_value(market_ticker) as market_ticker,
        bool_or(uses_lead_lag) as uses_lead_lag,
    from market_returns
    group by ticker
),

{% if is_incremental_build %}
-- change tracking (docs block int_policy_event_days_change_tracking): W, d and the events to recompute
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

event_listings as (
    select
        study_events.event_id,
        study_events.event_date,
        study_events.category,
        study_events.region,
        study_events.title,
        study_events.data_source as event_source,
        study_events.available_at,
        listings.ticker,
        listings.group_name,
        listings.benchmark_ticker,
        listings.first_trade_date,
        listing_markets.market_ticker,
        listing_markets.uses_lead_lag,
    from study_events
    cross join listings
    left join listing_markets
        on listings.ticker = listing_markets.ticker
),

-- the listings' trading days on or after the earliest event date studied (day 0 candidates)
listing_days as (
    select
        ticker,
        trade_date,
        trading_day_number,
        close_at,
    from market_returns
    where trade_date >= (select min(event_date) from study_events)
),

-- day 0: the listing's first session closing after the event became public;
-- none when the listing only started trading after the event date or the
-- event has no available_at
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
        and {{ known_before_close('event_listings.available_at', 'listing_days.close_at') }}
),

-- the last window day (relative day car_end, car_end + 1 with the Dimson lead),
-- once it has traded; known at the later of the listing's close and its market's
-- last close on or before it
with_window_end as (
    select
        event_days.*,
        window_end.trade_date as window_end_date,
        greatest(window_end.close_at, window_end.market_close_at) as known_at,
    from event_days
    left join market_returns as window_end
        on event_days.ticker = window_end.ticker
        and event_days.event_trading_day_number + {{ car_end }}
            + case when event_days.uses_lead_lag then 1 else 0 end = window_end.trading_day_number
),

final as (
    select
        event_id,
        event_date,
        category,
        region,
        title,
        event_source,
        available_at,
        ticker,
        group_name,
        benchmark_ticker,
        market_ticker,
        uses_lead_lag,
        event_trade_date,
        event_trading_day_number,
        window_end_date,
        known_at,
        {{ event_study_inputs_loaded_through('policy_events', 'daily_returns') }} as inputs_loaded_through,
    from with_window_end
)

select * from final
