-- The broad market proxy's return on every listing's own trading days: one
-- row per non-benchmark listing and trade_date, with the market return over
-- the same interval as the listing's return (from its previous trade date's
-- close to this one), the market return of the listing's previous and next
-- trading day (the Dimson 1979 lag and lead), the closes that bound when the
-- row is known, and whether the listing and its market close at different
-- times. Docs blocks formula_int_policy_event_market_returns_market_return and
-- formula_int_policy_event_market_returns_uses_lead_lag (_policy_events__docs.md).
-- A table over the listings' histories, rebuilt whole by every build (~5 s at
-- 500 tickers x 20 years): as a view, its windows were recomputed over the
-- whole history by each of int_policy_event_days' three reads (~20 s a day,
-- also when no event needed recomputing).

{{ config(materialized='table') }}

with daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

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

-- the two exchanges' closes on the listing's session date, to decide lead/lag
close_times as (
    select
        aligned.ticker,
        bool_or(aligned.close_at != market_sessions.close_at) as uses_lead_lag,
    from aligned
    inner join market_sessions
        on aligned.market_exchange = market_sessions.exchange
        and aligned.trade_date = market_sessions.session_date
    group by aligned.ticker
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
        coalesce(close_times.uses_lead_lag, false) as uses_lead_lag,
        market_returns.market_return,
        lag(market_returns.market_return) over listing_order as market_return_lag,
        lead(market_returns.market_return) over listing_order as market_return_lead,
        market_returns.close_at,
        market_returns.market_trade_date,
        market_returns.market_close_at,
        market_returns.market_data_source,
        market_returns.market_load_id,
    from market_returns
    left join close_times
        on market_returns.ticker = close_times.ticker
    window listing_order as (partition by market_returns.ticker order by market_returns.trading_day_number)
)

select * from final
