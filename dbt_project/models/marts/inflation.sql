-- US CPI inflation, one row per calendar month from the first to the last
-- observed month, including never-published months (October 2025) whose
-- values stay null. Every comparison is a date join (month - 12 months,
-- month - 1 month), never lag(), so a change that needs a missing month is null.
--   yoy_pct = 100 * (NSA index / NSA index 12 months earlier - 1)
--   mom_pct = 100 * (SA index / SA index of the previous calendar month - 1)

with cpi_monthly as (
    select * from {{ ref('int_cpi_monthly') }}
),

with_comparison_months as (
    select
        current_month.*,
        year_ago.headline_nsa_index as headline_nsa_index_year_ago,
        year_ago.core_nsa_index as core_nsa_index_year_ago,
        previous_month.headline_sa_index as headline_sa_index_previous_month,
        previous_month.core_sa_index as core_sa_index_previous_month,
    from cpi_monthly as current_month
    left join cpi_monthly as year_ago
        on year_ago.month_date = cast(current_month.month_date - interval 12 month as date)
    left join cpi_monthly as previous_month
        on previous_month.month_date = cast(current_month.month_date - interval 1 month as date)
),

changes as (
    select
        month_date,
        is_published,
        headline_nsa_index,
        headline_sa_index,
        core_nsa_index,
        core_sa_index,
        100 * (headline_nsa_index / headline_nsa_index_year_ago - 1) as headline_yoy_pct,
        round(100 * (headline_nsa_index / headline_nsa_index_year_ago - 1), 1) as headline_yoy_pct_1dp,
        100 * (headline_sa_index / headline_sa_index_previous_month - 1) as headline_mom_pct,
        100 * (core_nsa_index / core_nsa_index_year_ago - 1) as core_yoy_pct,
        100 * (core_sa_index / core_sa_index_previous_month - 1) as core_mom_pct,
        data_source,
        load_id,
    from with_comparison_months
),

with_previous_print as (
    select
        current_month.*,
        case
            when current_month.headline_yoy_pct_1dp > 3 then 'above_3pct'
            when current_month.headline_yoy_pct_1dp >= 2 then '2_to_3pct'
            when current_month.headline_yoy_pct_1dp < 2 then 'below_2pct'
        end as regime,
        round(current_month.headline_yoy_pct_1dp - previous_month.headline_yoy_pct_1dp, 1)
            as change_vs_previous_print_pp,
    from changes as current_month
    left join changes as previous_month
        on previous_month.month_date = cast(current_month.month_date - interval 1 month as date)
),

final as (
    select
        month_date,
        is_published,
        headline_nsa_index,
        headline_sa_index,
        core_nsa_index,
        core_sa_index,
        headline_yoy_pct,
        headline_yoy_pct_1dp,
        headline_mom_pct,
        core_yoy_pct,
        core_mom_pct,
        regime,
        change_vs_previous_print_pp,
        data_source,
        load_id,
    from with_previous_print
)

select * from final
