-- US CPI inflation, one row per calendar month from the first to the last
-- observed month, including never-published months (October 2025) whose
-- values stay null. Formulas: docs blocks formula_inflation_*
-- (_inflation__docs.md): MoM and YoY by date join (never lag(), so a change
-- that needs a missing month is null), the figures BLS quotes, the regime and
-- the change versus the previous print (ASOF join on month_date).

with cpi_monthly as (
    select * from {{ ref('int_cpi_monthly') }}
),

with_comparison_months as (
    select
        current_month.*,
        previous_month.headline_nsa_index as headline_nsa_index_previous_month,
        previous_month.headline_sa_index as headline_sa_index_previous_month,
        previous_month.core_nsa_index as core_nsa_index_previous_month,
        previous_month.core_sa_index as core_sa_index_previous_month,
        year_ago.headline_nsa_index as headline_nsa_index_year_ago,
        year_ago.headline_sa_index as headline_sa_index_year_ago,
        year_ago.core_nsa_index as core_nsa_index_year_ago,
        year_ago.core_sa_index as core_sa_index_year_ago,
    from cpi_monthly as current_month
    left join cpi_monthly as previous_month
        on previous_month.month_date = cast(current_month.month_date - interval 1 month as date)
    left join cpi_monthly as year_ago
        on year_ago.month_date = cast(current_month.month_date - interval 12 month as date)
),

changes as (
    select
        month_date,
        is_published,
        release_date,
        available_at,
        is_release_date_estimated,
        headline_nsa_index,
        headline_sa_index,
        core_nsa_index,
        core_sa_index,
        100 * (headline_nsa_index - headline_nsa_index_previous_month) / headline_nsa_index_previous_month
            as headline_nsa_mom_pct,
        100 * (headline_nsa_index - headline_nsa_index_year_ago) / headline_nsa_index_year_ago
            as headline_nsa_yoy_pct,
        100 * (headline_sa_index - headline_sa_index_previous_month) / headline_sa_index_previous_month
            as headline_sa_mom_pct,
        100 * (headline_sa_index - headline_sa_index_year_ago) / headline_sa_index_year_ago
            as headline_sa_yoy_pct,
        100 * (core_nsa_index - core_nsa_index_previous_month) / core_nsa_index_previous_month
            as core_nsa_mom_pct,
        100 * (core_nsa_index - core_nsa_index_year_ago) / core_nsa_index_year_ago
            as core_nsa_yoy_pct,
        100 * (core_sa_index - core_sa_index_previous_month) / core_sa_index_previous_month
            as core_sa_mom_pct,
        100 * (core_sa_index - core_sa_index_year_ago) / core_sa_index_year_ago
            as core_sa_yoy_pct,
        data_source,
        load_id,
    from with_comparison_months
),

quoted_figures as (
    select
        *,
        headline_nsa_yoy_pct as headline_yoy_pct,
        headline_sa_mom_pct as headline_mom_pct,
        core_nsa_yoy_pct as core_yoy_pct,
        core_sa_mom_pct as core_mom_pct,
        -- "+ 0.0" prints a rounded -0.04 as 0.0, not -0.0
        round(headline_nsa_yoy_pct, 1) + 0.0 as headline_yoy_pct_1dp,
        round(headline_sa_mom_pct, 1) + 0.0 as headline_mom_pct_1dp,
        round(core_nsa_yoy_pct, 1) + 0.0 as core_yoy_pct_1dp,
        round(core_sa_mom_pct, 1) + 0.0 as core_mom_pct_1dp,
    from changes
),

with_regime as (
    select
        *,
        -- on the published one-decimal headline YoY: 3.0 is '2_to_3pct', 3.1 'above_3pct'
        case
            when headline_yoy_pct_1dp > 3 then 'above_3pct'
            when headline_yoy_pct_1dp >= 2 then '2_to_3pct'
            when headline_yoy_pct_1dp < 2 then 'below_2pct'
        end as regime,
    from quoted_figures
),

published_prints as (
    select
        month_date as print_month_date,
        headline_yoy_pct_1dp as print_headline_yoy_pct_1dp,
        core_yoy_pct_1dp as print_core_yoy_pct_1dp,
    from with_regime
    where is_published
),

with_previous_print as (
    select
        current_month.*,
        case when current_month.is_published then previous_print.print_month_date end as previous_print_month_date,
        round(current_month.headline_yoy_pct_1dp - previous_print.print_headline_yoy_pct_1dp, 1) + 0.0
            as headline_yoy_change_vs_previous_print_pp,
        round(current_month.core_yoy_pct_1dp - previous_print.print_core_yoy_pct_1dp, 1) + 0.0
            as core_yoy_change_vs_previous_print_pp,
    from with_regime as current_month
    asof left join published_prints as previous_print
        on current_month.month_date > previous_print.print_month_date
),

final as (
    select
        month_date,
        is_published,
        release_date,
        is_release_date_estimated,
        headline_nsa_index,
        headline_sa_index,
        core_nsa_index,
        core_sa_index,
        headline_nsa_mom_pct,
        headline_nsa_yoy_pct,
        headline_sa_mom_pct,
        headline_sa_yoy_pct,
        core_nsa_mom_pct,
        core_nsa_yoy_pct,
        core_sa_mom_pct,
        core_sa_yoy_pct,
        headline_yoy_pct,
        headline_mom_pct,
        core_yoy_pct,
        core_mom_pct,
        headline_yoy_pct_1dp,
        headline_mom_pct_1dp,
        core_yoy_pct_1dp,
        core_mom_pct_1dp,
        regime,
        previous_print_month_date,
        headline_yoy_change_vs_previous_print_pp,
        core_yoy_change_vs_previous_print_pp,
        -- a month never published is known to be missing once the next month is out
        coalesce(available_at, lead(available_at) over (order by month_date)) as known_at,
        data_source,
        load_id,
    from with_previous_print
)

select * from final
