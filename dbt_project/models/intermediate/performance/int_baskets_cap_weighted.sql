-- The cap-weighted baskets (basket_cap:china_tech, basket_cap:us_ai_leader),
-- held like an index: one row per basket and trading day of any member.
-- Each member weighs its USD market capitalisation at its last close before
-- the date (shares outstanding as known at that close x price x FX), a
-- member whose market is closed keeps its last price (a zero return) at
-- that weight. Formulas: docs blocks formula_int_baskets_cap_weighted_weight
-- and formula_int_baskets_cap_weighted_daily_return_usd (_performance__docs.md);
-- the level as in int_baskets_equal_weighted.
-- Incremental (boundary cap_weighted_baskets, macros/incremental_boundaries.sql):
-- dates on or after the earliest price or FX date, or the earliest available_at
-- date of a fundamental, loaded since the last build are recomputed; the
-- level continues from the exact log level stored before them.

{{ config(
    materialized='incremental',
    unique_key=['series_id', 'trade_date'],
) }}

{%- set start = cap_weighted_baskets_start() %}
{%- set recompute_from = date_literal(start) %}

-- the members' days, with the context before the start their last caps come from
with member_days as not materialized (
    select * from {{ ref('int_daily_returns') }}
    where group_name in ('china_tech', 'us_ai_leader')
        and trade_date >= {{ daily_series_context_from(start) }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

fundamentals as (
    select * from {{ ref('stg_raw__fundamentals') }}
    where shares_outstanding is not null
),

member_closes as (
    select
        member_days.ticker,
        member_days.group_name,
        member_days.trade_date,
        member_days.close * member_days.usd_per_unit as close_usd,
        market_sessions.close_at,
    from member_days
    left join market_sessions
        on member_days.exchange = market_sessions.exchange
        and member_days.trade_date = market_sessions.session_date
),

-- shares outstanding as known at each close (the latest fundamental public before it)
member_caps as (
    select
        member_closes.ticker,
        member_closes.group_name,
        member_closes.trade_date,
        fundamentals.shares_outstanding * member_closes.close_usd as cap_usd,
    from member_closes
    asof left join fundamentals
        on member_closes.ticker = fundamentals.ticker
        and {{ known_before_close('fundamentals.available_at', 'member_closes.close_at') }}
),

basket_dates as (
    select distinct
        group_name,
        trade_date,
    from member_days
    where trade_date >= {{ recompute_from }}
),

-- every member's cap at its last close before the date: the weights held over the day
held_caps as (
    select
        basket_dates.group_name,
        basket_dates.trade_date,
        member_caps.ticker,
        member_caps.cap_usd,
    from basket_dates
    inner join (select distinct ticker, group_name from member_days) as members
        on basket_dates.group_name = members.group_name
    asof inner join member_caps
        on members.ticker = member_caps.ticker
        and basket_dates.trade_date > member_caps.trade_date
    where member_caps.cap_usd is not null
),

-- the total as an exact sum (the same bits on every build; caps need the wider range of 40 bits)
held_totals as (
    select
        group_name,
        trade_date,
        {{ exact_sum('cap_usd', bits=40) }} as total_cap_usd,
    from held_caps
    group by group_name, trade_date
),

weights as (
    select
        held_caps.*,
        held_caps.cap_usd / held_totals.total_cap_usd as weight,
    from held_caps
    inner join held_totals
        on held_caps.group_name = held_totals.group_name
        and held_caps.trade_date = held_totals.trade_date
),

weighted_returns as (
    select
        basket_dates.group_name,
        basket_dates.trade_date,
        weights.ticker,
        weights.weight,
        member_days.daily_return_usd,
        member_closes.close_at,
        member_days.data_source,
        member_days.load_id,
    from basket_dates
    left join weights
        on basket_dates.group_name = weights.group_name
        and basket_dates.trade_date = weights.trade_date
    left join member_days
        on weights.ticker = member_days.ticker
        and weights.trade_date = member_days.trade_date
    left join member_closes
        on weights.ticker = member_closes.ticker
        and weights.trade_date = member_closes.trade_date
),

basket_daily as (
    select
        'basket_cap:' || group_name as series_id,
        group_name,
        trade_date,
        -- a closed member (no row on the date) adds weight * 0; an exact sum: bit-identical rebuilds
        case
            when count(weight) > 0
                then {{ exact_sum('weight * coalesce(daily_return_usd, 0)') }}
        end as daily_return_usd,
        count(weight) as member_count,
        count(daily_return_usd) as open_member_count,
        max(weight) as max_weight,
        max(close_at) as known_at,
        {{ group_benchmark_ticker('group_name') }} as benchmark_ticker,
        {{ distinct_values('data_source') }} as data_source,
        {{ distinct_values('load_id') }} as load_id,
    from weighted_returns
    group by group_name, trade_date
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
        max_weight,
        known_at,
        round(exp({{ from_fixed_point('log_level_fixed_point') }}), 12) as level_usd,
        log_level_fixed_point,
        benchmark_ticker,
        data_source,
        load_id,
        {{ inputs_loaded_through(cap_weighted_baskets_inputs()) }} as inputs_loaded_through,
    from log_levels
)

select * from final
