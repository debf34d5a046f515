-- CPI on a complete month spine: one row per calendar month from the first
-- to the last observed month, the four series pivoted into columns, with the
-- day the month's CPI was published. Months never published (October 2025)
-- are kept with null index levels and a null release_date.
--
-- Release date: docs block formula_int_cpi_monthly_release_date (_cpi__docs.md).
-- Contract: int_cpi_known_daily ASOF-joins this model on available_at before
-- each market's close to give the CPI known on each date; month_date,
-- release_date, available_at and headline_nsa_index keep these names.

with cpi_observations as (
    select * from {{ ref('stg_raw__cpi_observations') }}
),

month_bounds as (
    select
        min(month_date) as first_month_date,
        max(month_date) as last_month_date,
    from cpi_observations
),

month_spine as (
    select
        cast(unnest(generate_series(first_month_date, last_month_date, interval 1 month)) as date) as month_date,
    from month_bounds
),

pivoted as (
    select
        month_date,
        max(index_value) filter (where series_id = 'CUUR0000SA0') as headline_nsa_index,
        max(index_value) filter (where series_id = 'CUSR0000SA0') as headline_sa_index,
        max(index_value) filter (where series_id = 'CUUR0000SA0L1E') as core_nsa_index,
        max(index_value) filter (where series_id = 'CUSR0000SA0L1E') as core_sa_index,
        -- one release per reference month (all four series come out together);
        -- max/bool_or only guard against a row written before the columns existed
        max(release_date) as release_date,
        max(available_at) as available_at,
        bool_or(is_release_date_estimated) as is_release_date_estimated,
        {{ distinct_values('data_source') }} as data_source,
        {{ distinct_values('load_id') }} as load_id,
    from cpi_observations
    group by month_date
),

joined as (
    select
        month_spine.month_date,
        pivoted.month_date is not null as is_published,
        pivoted.release_date,
        pivoted.available_at,
        pivoted.is_release_date_estimated,
        pivoted.headline_nsa_index,
        pivoted.headline_sa_index,
        pivoted.core_nsa_index,
        pivoted.core_sa_index,
        pivoted.data_source,
        pivoted.load_id,
    from month_spine
    left join pivoted
        on month_spine.month_date = pivoted.month_date
),

final as (
    select * from joined
)

select * from final
