-- The market's reward for a company's quarter, measured AFTER its results
-- became public: one row per company (non-benchmark) and fiscal_period_end.
-- Day 0 is the first session of the listing's exchange whose close is after
-- the quarter's first available_at (known_before_close, the one rule); then
-- market-adjusted CARs over trading days [0, +1] and [0, +5] and forward
-- buy-and-hold returns from the close of day 0 over 21, 63 and 126 sessions,
-- raw and in excess of the group benchmark and of the broad market, all in
-- USD from int_daily_returns (no FX recomputed). The horizons are declared
-- once in macros/results_rewards.sql. Formulas: docs blocks
-- formula_int_results_rewards_* (_rewards__docs.md).
-- Point in time: a horizon's columns are null (its known_at too) until its
-- window is complete: the listing has traded its last day and both reference
-- series have a level on or after that date; then known_at is the latest
-- close of the sessions it used.
-- Incremental (boundary results_rewards, macros/incremental_boundaries.sql):
-- a stored row is kept only while every horizon is complete and was known
-- before the earliest price, FX or fiscal period end loaded since the last
-- build (a window reads nothing dated after its last known_at), or while it
-- has no price history and its day 0 came before that date; every other
-- quarter (a window still open, a new or revised quarter, a revision inside
-- its window) is recomputed, so nothing is kept from a build whose windows
-- were incomplete and a new day costs the open windows only.

{{ config(
    materialized='incremental',
    unique_key=['ticker', 'fiscal_period_end'],
) }}

{%- set horizons = results_reward_horizons() %}
{%- set last_day = horizons | map(attribute='end') | max %}
{%- set references = [('benchmark', 'benchmark_ticker'), ('market', 'market_ticker')] %}
{#- a day of margin: known_at is a close in UTC, the inputs' dates are session dates -#}
{%- set recompute_from = date_literal(results_rewards_start(), days_before=1) %}

with fundamentals as (
    select * from {{ ref('stg_raw__fundamentals') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

-- read three times below: not materialized, so each scan reads only its columns and rows
daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

{%- if is_incremental() %}
-- the stored rows that stay: every horizon complete and known before the earliest date loaded since,
-- or no price history before a day 0 that came before it (only a price dated before day 0 changes that)
kept as (
    select ticker, fiscal_period_end
    from {{ this }}
    where (
        {%- for horizon in horizons %}
        {{ horizon.name }}_known_at < {{ recompute_from }}{{ ' and' if not loop.last }}
        {%- endfor %}
    )
        or (not has_price_history and day_zero_date < {{ recompute_from }})
),
{%- endif %}

first_availability as (
    select
        ticker,
        fiscal_period_end,
        min(available_at) as first_available_at,
        arg_min(data_source, available_at) as data_source,
    from fundamentals
    where available_at is not null
    group by ticker, fiscal_period_end
),

quarters as (
    select
        first_availability.ticker,
        securities.group_name,
        securities.exchange,
        first_availability.fiscal_period_end,
        first_availability.first_available_at,
        securities.benchmark_ticker,
        securities.market_ticker,
        first_availability.data_source,
    from first_availability
    inner join securities
        on first_availability.ticker = securities.ticker
    where securities.group_name != 'benchmark'
    {%- if is_incremental() %}
        and not exists (
            select 1 from kept
            where kept.ticker = first_availability.ticker
                and kept.fiscal_period_end = first_availability.fiscal_period_end
        )
    {%- endif %}
),

-- the first session of the listing's exchange whose close is after the results were public
day_zero_sessions as (
    select
        quarters.*,
        sessions.session_date as day_zero_session_date,
    from quarters
    asof left join market_sessions as sessions
        on quarters.exchange = sessions.exchange
        and {{ known_before_close('quarters.first_available_at', 'sessions.close_at') }}
),

stock_days as (
    select
        ticker,
        trade_date,
        trading_day_number,
        adj_close_usd,
        daily_return_usd,
    from daily_returns
),

-- day 0 in the listing's own trading days: its first trade on or after that session
day_zero as (
    select
        day_zero_sessions.*,
        stock_days.trade_date as day_zero_date,
        stock_days.trading_day_number as day_zero_number,
    from day_zero_sessions
    asof left join stock_days
        on day_zero_sessions.ticker = stock_days.ticker
        and day_zero_sessions.day_zero_session_date <= stock_days.trade_date
),

-- trading days -1 .. the last horizon's end, by number (exact over halts and holidays). The numbers are
-- computed first, so the join below is on (ticker, number): joined with the expression, DuckDB matched
-- every quarter with every trading day of its ticker (minutes at 500 tickers x 20 years)
window_keys as materialized (
    select
        day_zero.ticker,
        day_zero.fiscal_period_end,
        day_zero.exchange,
        day_zero.benchmark_ticker,
        day_zero.market_ticker,
        relative_days.relative_day,
        day_zero.day_zero_number + relative_days.relative_day as trading_day_number,
    from day_zero
    cross join range(-1, {{ last_day + 1 }}) as relative_days (relative_day)
    where day_zero.day_zero_number > 1
),

window_days as (
    select
        window_keys.* exclude (trading_day_number),
        stock_days.trade_date,
        stock_days.adj_close_usd as stock_level_usd,
        stock_days.daily_return_usd as stock_return_usd,
    from window_keys
    inner join stock_days
        on window_keys.ticker = stock_days.ticker
        and window_keys.trading_day_number = stock_days.trading_day_number
),

-- the benchmark and market levels in USD, with the close of the session each is dated
reference_levels as (
    select
        daily_returns.ticker as reference_ticker,
        daily_returns.trade_date as level_date,
        daily_returns.adj_close_usd as level_usd,
        sessions.close_at as level_close_at,
        max(daily_returns.trade_date) over (partition by daily_returns.ticker) as last_level_date,
    from daily_returns
    left join market_sessions as sessions
        on daily_returns.exchange = sessions.exchange
        and daily_returns.trade_date = sessions.session_date
    where daily_returns.adj_close_usd is not null
        and daily_returns.ticker in (
            select benchmark_ticker from quarters
            union
            select market_ticker from quarters
        )
),

-- each reference's last level on or before the listing's trade date (calendars differ: VT
-- trades in New York while a Hong Kong listing's day is over): one ASOF join per distinct
-- (reference, date) pair the windows hold, then equi-joins (an ASOF join per window row took 10 s)
reference_dates as (
    {%- for reference, ticker_column in references %}
    select distinct {{ ticker_column }} as reference_ticker, trade_date from window_days
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}
),

reference_on_dates as (
    select
        reference_dates.reference_ticker,
        reference_dates.trade_date,
        reference_levels.level_usd,
        reference_levels.level_close_at,
        reference_levels.last_level_date >= reference_dates.trade_date as is_level_final,
    from reference_dates
    asof left join reference_levels
        on reference_dates.reference_ticker = reference_levels.reference_ticker
        and reference_dates.trade_date >= reference_levels.level_date
),

window_levels as (
    select
        window_days.*,
        stock_sessions.close_at as stock_close_at,
        {%- for reference, _ in references %}
        {{ reference }}.level_usd as {{ reference }}_level_usd,
        {{ reference }}.level_close_at as {{ reference }}_close_at,
        {{ reference }}.is_level_final as is_{{ reference }}_level_final,
        {%- endfor %}
    from window_days
    left join market_sessions as stock_sessions
        on window_days.exchange = stock_sessions.exchange
        and window_days.trade_date = stock_sessions.session_date
    {%- for reference, ticker_column in references %}
    left join reference_on_dates as {{ reference }}
        on window_days.{{ ticker_column }} = {{ reference }}.reference_ticker
        and window_days.trade_date = {{ reference }}.trade_date
    {%- endfor %}
),

window_returns as (
    select
        *,
        {%- for reference, _ in references %}
        {{ reference }}_level_usd / lag({{ reference }}_level_usd) over quarter_days - 1 as {{ reference }}_return_usd,
        {%- endfor %}
        greatest(stock_close_at, benchmark_close_at, market_close_at) as inputs_close_at,
        stock_close_at is not null
            and stock_level_usd is not null
            and benchmark_level_usd is not null
            and market_level_usd is not null
            and benchmark_close_at is not null
            and market_close_at is not null
            and is_benchmark_level_final
            and is_market_level_final as is_day_final,
    from window_levels
    window quarter_days as (partition by ticker, fiscal_period_end order by relative_day)
),

{#- per horizon: is its window complete (every day present and final), and the sums / levels it needs -#}
rewards as (
    select
        ticker,
        fiscal_period_end,
        {%- for horizon in horizons %}
        {%- set first = 0 if horizon.kind == 'car' else 1 %}
        count(*) filter (
            where relative_day between {{ first }} and {{ horizon.end }}
                and is_day_final
                {%- if horizon.kind == 'car' %}
                and stock_return_usd is not null
                and benchmark_return_usd is not null
                and market_return_usd is not null
                {%- endif %}
        ) = {{ horizon.end - first + 1 }} as is_{{ horizon.name }}_complete,
        max(inputs_close_at) filter (where relative_day between {{ first - 1 }} and {{ horizon.end }})
            as {{ horizon.name }}_inputs_close_at,
        {%- if horizon.kind == 'car' %}
        {%- for reference, _ in references %}
        100 * sum(stock_return_usd - {{ reference }}_return_usd) filter (
            where relative_day between 0 and {{ horizon.end }}
        ) as {{ horizon.name }}_vs_{{ reference }}_pct,
        {%- endfor %}
        {%- else %}
        {%- for series in ['stock', 'benchmark', 'market'] %}
        max({{ series }}_level_usd) filter (where relative_day = {{ horizon.end }})
            / max({{ series }}_level_usd) filter (where relative_day = 0) - 1 as {{ horizon.name }}_{{ series }}_return,
        {%- endfor %}
        {%- endif %}
        {%- endfor %}
    from window_returns
    group by ticker, fiscal_period_end
),

final as (
    select
        day_zero.ticker,
        day_zero.group_name,
        day_zero.exchange,
        day_zero.fiscal_period_end,
        day_zero.first_available_at,
        day_zero.day_zero_date,
        coalesce(day_zero.day_zero_number > 1, false) as has_price_history,
        day_zero.benchmark_ticker,
        day_zero.market_ticker,
        {%- for horizon in horizons %}
        {%- set complete = 'rewards.is_' ~ horizon.name ~ '_complete' %}
        {%- if horizon.kind == 'car' %}
        {%- for reference, _ in references %}
        case when {{ complete }} then rewards.{{ horizon.name }}_vs_{{ reference }}_pct end
            as {{ horizon.name }}_vs_{{ reference }}_pct,
        {%- endfor %}
        {%- else %}
        case when {{ complete }} then 100 * rewards.{{ horizon.name }}_stock_return end as {{ horizon.name }}_pct,
        {%- for reference, _ in references %}
        case
            when {{ complete }}
                then 100 * (rewards.{{ horizon.name }}_stock_return - rewards.{{ horizon.name }}_{{ reference }}_return)
        end as {{ horizon.name }}_vs_{{ reference }}_pp,
        {%- endfor %}
        {%- endif %}
        case when {{ complete }} then rewards.{{ horizon.name }}_inputs_close_at end as {{ horizon.name }}_known_at,
        {%- endfor %}
        day_zero.data_source,
        {{ inputs_loaded_through(results_rewards_inputs()) }} as inputs_loaded_through,
    from day_zero
    left join rewards
        on day_zero.ticker = rewards.ticker
        and day_zero.fiscal_period_end = rewards.fiscal_period_end
)

select * from final
