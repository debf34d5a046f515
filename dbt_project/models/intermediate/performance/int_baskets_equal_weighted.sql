-- The equal-weight, daily-rebalanced baskets (basket:china_tech,
-- basket:us_ai_leader), held like an index: one row per basket and trading
-- day of any member; a member whose market is closed keeps its last USD
-- price (a zero return) at its normal weight 1 / N.
-- Formulas: docs blocks formula_int_baskets_equal_weighted_daily_return_usd
-- and formula_int_baskets_equal_weighted_level_usd (_performance__docs.md).
-- Incremental (boundary daily_series, macros/incremental_boundaries.sql): dates
-- on or after the earliest price or FX date loaded since the last build are
-- recomputed; the level continues from the exact log level stored before them.

{{ config(
    materialized='incremental',
    unique_key=['series_id', 'trade_date'],
) }}

{%- set recompute_from = date_literal(daily_series_start()) %}

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
    where trade_date >= {{ recompute_from }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

-- the members' rows with the close of their session (the row is known once every open member has closed)
basket_members as (
    select
        daily_returns.*,
        market_sessions.close_at,
    from daily_returns
    left join market_sessions
        on daily_returns.exchange = market_sessions.exchange
        and daily_returns.trade_date = market_sessions.session_date
    where daily_returns.group_name in ('china_tech', 'us_ai_leader')
),

-- each member's first trade date, from its whole history (unfiltered)
member_listings as (
    select
        ticker,
        any_value(group_name) as group_name,
        min(trade_date) as first_trade_date,
    from {{ ref('int_daily_returns') }}
    where group_name in ('china_tech', 'us_ai_leader')
    group by ticker
),

basket_dates as (
    select distinct
        group_name,
        trade_date,
    from basket_members
),

-- N: the members held on the date, those with a price before it (open or closed that day)
held_counts as (
    select
        basket_dates.group_name,
        basket_dates.trade_date,
        count(member_listings.ticker) as member_count,
    from basket_dates
    left join member_listings
        on basket_dates.group_name = member_listings.group_name
        and member_listings.first_trade_date < basket_dates.trade_date
    group by basket_dates.group_name, basket_dates.trade_date
),

open_members as (
    select
        group_name,
        trade_date,
        -- an exact sum: the same bits on every build
        {{ exact_sum('daily_return_usd') }} as open_return_sum,
        count(daily_return_usd) as open_member_count,
        max(close_at) as known_at,
        {{ distinct_values('data_source') }} as data_source,
        {{ distinct_values('load_id') }} as load_id,
    from basket_members
    group by group_name, trade_date
),

-- a closed member adds 0 to the sum and 1 to N (docs block formula_int_baskets_equal_weighted_daily_return_usd)
basket_daily as (
    select
        'basket:' || open_members.group_name as series_id,
        open_members.group_name,
        open_members.trade_date,
        open_members.open_return_sum / nullif(held_counts.member_count, 0) as daily_return_usd,
        held_counts.member_count,
        open_members.open_member_count,
        open_members.known_at,
        {{ group_benchmark_ticker('open_members.group_name') }} as benchmark_ticker,
        open_members.data_source,
        open_members.load_id,
    from open_members
    inner join held_counts
        on open_members.group_name = held_counts.group_name
        and open_members.trade_date = held_counts.trade_date
),

{{ chained_log_levels('basket_daily', recompute_from) }}

final as (
    select
        series_id,
        group_name,
        trade_date,
        daily_return_usd,
        member_count,
        open_member_count,
        known_at,
        round(exp({{ from_fixed_point('log_level_fixed_point') }}), 12) as level_usd,
        log_level_fixed_point,
        benchmark_ticker,
        data_source,
        load_id,
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from log_levels
)

select * from final
