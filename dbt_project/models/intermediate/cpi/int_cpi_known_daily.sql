-- The US CPI known on each calendar day: the latest CPI-U headline (NSA) print
-- released on or before it, from the first release through the later of the
-- last release and the last price date. Docs block formula_int_cpi_known_daily
-- (_cpi__docs.md). Consumers join it on a date (equi-join) instead of each
-- repeating the point-in-time (ASOF) look-up.

with cpi_monthly as (
    select * from {{ ref('int_cpi_monthly') }}
),

prices as (
    select * from {{ ref('stg_raw__prices') }}
),

prints as (
    select
        release_date,
        month_date,
        headline_nsa_index,
    from cpi_monthly
    where headline_nsa_index is not null and release_date is not null
),

calendar_bounds as (
    select
        min(release_date) as first_date,
        greatest(max(release_date), (select max(trade_date) from prices)) as last_date,
    from prints
),

calendar as (
    select
        cast(unnest(generate_series(first_date, last_date, interval 1 day)) as date) as calendar_date,
    from calendar_bounds
),

known_prints as (
    select
        calendar.calendar_date,
        prints.month_date as cpi_month_known,
        prints.headline_nsa_index as cpi_index_known,
        prints.release_date as cpi_release_date,
    from calendar
    asof left join prints
        on calendar.calendar_date >= prints.release_date
),

final as (
    select * from known_prints
)

select * from final
