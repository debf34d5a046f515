-- The US CPI known on each calendar day at each market's close: the latest
-- CPI-U headline (NSA) print public (available_at, UTC) before the close of
-- that market's last session on or before the day
-- (known_before_close(available_at, close_at), macros/point_in_time.sql),
-- from the first release through the later of the last release and the last
-- price date. One row per exchange and calendar_date. Docs block
-- formula_int_cpi_known_daily (_cpi__docs.md). Consumers join it on an
-- exchange and a date (equi-join) instead of each repeating the
-- point-in-time (ASOF) look-up.

with cpi_monthly as (
    select * from {{ ref('int_cpi_monthly') }}
),

prices as (
    select * from {{ ref('stg_raw__prices') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

prints as (
    select
        release_date,
        available_at,
        month_date,
        headline_nsa_index,
    from cpi_monthly
    where headline_nsa_index is not null and available_at is not null
),

calendar_bounds as (
    select
        min(release_date) as first_date,
        greatest(max(release_date), (select max(trade_date) from prices)) as last_date,
    from prints
),

calendar as (
    select
        exchanges.exchange,
        cast(unnest(generate_series(first_date, last_date, interval 1 day)) as date) as calendar_date,
    from calendar_bounds
    cross join (select distinct exchange from market_sessions) as exchanges
),

-- the close of each exchange's last session on or before the day (the day's own on a trading day)
calendar_closes as (
    select
        calendar.exchange,
        calendar.calendar_date,
        market_sessions.close_at as session_close_at,
    from calendar
    asof left join market_sessions
        on calendar.exchange = market_sessions.exchange
        and calendar.calendar_date >= market_sessions.session_date
),

known_prints as (
    select
        calendar_closes.exchange,
        calendar_closes.calendar_date,
        calendar_closes.session_close_at,
        prints.month_date as cpi_month_known,
        prints.headline_nsa_index as cpi_index_known,
        prints.release_date as cpi_release_date,
        prints.available_at as cpi_available_at,
    from calendar_closes
    asof left join prints
        on {{ known_before_close('prints.available_at', 'calendar_closes.session_close_at') }}
),

final as (
    select * from known_prints
)

select * from final
