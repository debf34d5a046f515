-- The broad market proxy's return on every listing's own trading days: one
-- row per non-benchmark listing and trade_date, with the market return over
-- the same interval as the listing's return (from its previous trade date's
-- close to this one), the market return of the listing's previous and next
-- trading day (the Dimson 1979 lag and lead), the closes that bound when the
-- row is known, and whether the listing and its market close at different
-- times. Docs blocks formula_int_policy_event_market_returns_market_return and
-- formula_int_policy_event_market_returns_uses_lead_lag (_policy_events__docs.md).
-- Incremental (boundary daily_series, macros/incremental_boundaries.sql): per
-- listing, the rows from its last trading day before the earliest price or FX
-- date loaded since (that day's lead is the new day's return) are rewritten,
-- computed from two earlier rows of context (a return and its lag); a listing
-- whose uses_lead_lag changed (a new listing, or the first day its closes and
-- its market's differ) is rewritten whole.

{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
) }}

{%- set recompute_from = date_literal(daily_series_start()) %}

with daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

{%- if is_incremental() %}
stored_lead_lag as (
    select ticker, bool_or(uses_lead_lag) as uses_lead_lag,
    from {{ this }}
    group by ticker
),
{%- endif %}

-- each listing's market: its exchange and the first day it has a level (the ASOF join below finds none before)
markets as (
    select
        ticker as market_ticker,
        any_value(exchange) as market_exchange,
        min(trade_date) as first_market_date,
    from daily_returns
    where ticker in (select market_ticker from securities)
    group by ticker
),

-- per listing: do its closes and its market's differ on a session both hold (while the market has a
-- level)? Then the Dimson lag and lead apply (formula_int_policy_event_market_returns_uses_lead_lag).
-- An OR over the listing's days: a day's sessions are fixed, so an incremental build ORs the days on
-- or after the recompute date into the stored value instead of reading the whole history again
lead_lag_days as (
    select
        daily_returns.ticker,
        listing_sessions.close_at != market_exchange_sessions.close_at as closes_differ,
    from daily_returns
    inner join securities
        on daily_returns.ticker = securities.ticker
    inner join markets
        on securities.market_ticker = markets.market_ticker
        and daily_returns.trade_date >= markets.first_market_date
    inner join market_sessions as listing_sessions
        on daily_returns.exchange = listing_sessions.exchange
        and daily_returns.trade_date = listing_sessions.session_date
    inner join market_sessions as market_exchange_sessions
        on markets.market_exchange = market_exchange_sessions.exchange
        and daily_returns.trade_date = market_exchange_sessions.session_date
    where daily_returns.group_name != 'benchmark'
    {%- if is_incremental() %}
        and daily_returns.trade_date >= {{ recompute_from }}
    union all
    select ticker, uses_lead_lag from stored_lead_lag
    {%- endif %}
),

lead_lag_listings as (
    select ticker, bool_or(closes_differ) as uses_lead_lag,
    from lead_lag_days
    group by ticker
),

{%- if is_incremental() %}

-- per listing with a day on or after the recompute date: the first trading day number to rewrite
-- (the day before that date, whose lead changes), or 1 when its uses_lead_lag changed (or it is new)
rewrite_from as (
    select
        daily_returns.ticker,
        case
            when any_value(stored.uses_lead_lag) is distinct from coalesce(any_value(flags.uses_lead_lag), false)
                then 1
            else min(daily_returns.trading_day_number) - 1
        end as first_number,
    from daily_returns
    left join lead_lag_listings as flags
        on daily_returns.ticker = flags.ticker
    left join stored_lead_lag as stored
        on daily_returns.ticker = stored.ticker
    where daily_returns.trade_date >= {{ recompute_from }}
        and daily_returns.group_name != 'benchmark'
    group by daily_returns.ticker
),
{%- endif %}

listing_days as (
    select
        daily_returns.ticker,
        daily_returns.trade_date,
        daily_returns.trading_day_number,
        daily_returns.exchange,
        securities.market_ticker,
        listing_sessions.close_at,
    from daily_returns
    inner join securities
        on daily_returns.ticker = securities.ticker
    left join market_sessions as listing_sessions
        on daily_returns.exchange = listing_sessions.exchange
        and daily_returns.trade_date = listing_sessions.session_date
    {%- if is_incremental() %}
    -- with two rows of context: the first rewritten row's return needs the row before, its lag the one before that
    inner join rewrite_from
        on daily_returns.ticker = rewrite_from.ticker
        and daily_returns.trading_day_number >= rewrite_from.first_number - 2
    {%- endif %}
    where daily_returns.group_name != 'benchmark'
),

market_days as (
    select
        daily_returns.ticker as market_ticker,
        daily_returns.trade_date as market_trade_date,
        daily_returns.exchange as market_exchange,
        daily_returns.adj_close as market_adj_close,
        daily_returns.data_source as market_data_source,
        daily_returns.load_id as market_load_id,
        market_sessions.close_at as market_close_at,
    from daily_returns
    left join market_sessions
        on daily_returns.exchange = market_sessions.exchange
        and daily_returns.trade_date = market_sessions.session_date
    where daily_returns.ticker in (select market_ticker from securities)
),

-- the market's last row on or before each listing day (its level at the listing's close or earlier)
aligned as (
    select
        listing_days.*,
        market_days.market_trade_date,
        market_days.market_exchange,
        market_days.market_adj_close,
        market_days.market_data_source,
        market_days.market_load_id,
        market_days.market_close_at,
    from listing_days
    asof left join market_days
        on listing_days.market_ticker = market_days.market_ticker
        and listing_days.trade_date >= market_days.market_trade_date
),

market_returns as (
    select
        aligned.ticker,
        aligned.trade_date,
        aligned.trading_day_number,
        aligned.market_ticker,
        aligned.market_adj_close / lag(aligned.market_adj_close) over listing_order - 1 as market_return,
        aligned.close_at,
        aligned.market_trade_date,
        aligned.market_close_at,
        aligned.market_data_source,
        aligned.market_load_id,
    from aligned
    window listing_order as (partition by aligned.ticker order by aligned.trading_day_number)
),

final as (
    select
        market_returns.ticker,
        market_returns.trade_date,
        market_returns.trading_day_number,
        market_returns.market_ticker,
        coalesce(lead_lag_listings.uses_lead_lag, false) as uses_lead_lag,
        market_returns.market_return,
        lag(market_returns.market_return) over listing_order as market_return_lag,
        lead(market_returns.market_return) over listing_order as market_return_lead,
        market_returns.close_at,
        market_returns.market_trade_date,
        market_returns.market_close_at,
        market_returns.market_data_source,
        market_returns.market_load_id,
        {{ inputs_loaded_through(daily_series_inputs()) }} as inputs_loaded_through,
    from market_returns
    left join lead_lag_listings
        on market_returns.ticker = lead_lag_listings.ticker
    window listing_order as (partition by market_returns.ticker order by market_returns.trading_day_number)
)

select final.* from final
{%- if is_incremental() %}
inner join rewrite_from
    on final.ticker = rewrite_from.ticker
    and final.trading_day_number >= rewrite_from.first_number
{%- endif %}
