-- Investment vs results per company and fiscal quarter (non-benchmark
-- companies). TTM amounts come from int_fundamentals_ttm (reporting
-- currency) and are converted with the FX rate on or before the period end.
-- Ratios (intensity, margin) are currency-invariant; growth rates compare
-- reporting-currency TTMs so FX moves do not count as growth. Z-scores are
-- taken within the calendar-quarter cross-section (calendar_quarter_end, the
-- calendar quarter end nearest to fiscal_period_end, which equals
-- fiscal_period_end for companies whose quarters end on calendar quarter
-- ends), so off-calendar fiscal years (NVDA, AVGO, ORCL) have peers.

with fundamentals_ttm as (
    select * from {{ ref('int_fundamentals_ttm') }}
),

fx_rates as (
    select * from {{ ref('stg_raw__fx_rates') }}
),

companies as (
    select * from fundamentals_ttm
    where group_name != 'benchmark'
),

with_fx as (
    select
        companies.*,
        case
            when companies.reporting_currency = 'USD' then 1.0
            else fx_rates.usd_per_unit
        end as usd_per_unit_period_end,
    from companies
    asof left join fx_rates
        on companies.reporting_currency = fx_rates.currency
        and companies.fiscal_period_end >= fx_rates.rate_date
),

with_investment as (
    select
        *,
        rd_expense_ttm + capex_ttm as ai_investment_ttm,
        cast(
            date_trunc('quarter', fiscal_period_end + interval 45 day) - interval 1 day
            as date
        ) as calendar_quarter_end,
    from with_fx
),

with_year_ago as (
    select
        current_quarter.*,
        year_ago.revenue_ttm as revenue_ttm_year_ago,
        year_ago.ai_investment_ttm as ai_investment_ttm_year_ago,
        100 * year_ago.operating_income_ttm / nullif(year_ago.revenue_ttm, 0) as operating_margin_pct_year_ago,
    from with_investment as current_quarter
    left join with_investment as year_ago
        on current_quarter.ticker = year_ago.ticker
        and year_ago.fiscal_quarter_index = current_quarter.fiscal_quarter_index - 4
),

metrics as (
    select
        ticker,
        group_name,
        fiscal_period_end,
        fiscal_year,
        fiscal_quarter,
        calendar_quarter_end,
        report_date,
        reporting_currency,
        usd_per_unit_period_end,
        revenue_ttm * usd_per_unit_period_end as revenue_ttm_usd,
        operating_income_ttm * usd_per_unit_period_end as operating_income_ttm_usd,
        rd_expense_ttm * usd_per_unit_period_end as rd_ttm_usd,
        capex_ttm * usd_per_unit_period_end as capex_ttm_usd,
        ai_investment_ttm * usd_per_unit_period_end as ai_investment_ttm_usd,
        100 * ai_investment_ttm / nullif(revenue_ttm, 0) as investment_intensity_pct,
        100 * (ai_investment_ttm - ai_investment_ttm_year_ago)
            / nullif(ai_investment_ttm_year_ago, 0) as investment_growth_yoy_pct,
        100 * (revenue_ttm - revenue_ttm_year_ago)
            / nullif(revenue_ttm_year_ago, 0) as revenue_growth_yoy_pct,
        100 * operating_income_ttm / nullif(revenue_ttm, 0) as operating_margin_pct,
        100 * operating_income_ttm / nullif(revenue_ttm, 0)
            - operating_margin_pct_year_ago as operating_margin_change_pp,
        data_source,
        load_id,
    from with_year_ago
),

zscores as (
    select
        *,
        count(investment_intensity_pct) over (partition by calendar_quarter_end) as peer_count,
        {{ zscore('investment_intensity_pct', 'calendar_quarter_end', 'ticker') }} as investment_zscore,
        {{ zscore('revenue_growth_yoy_pct', 'calendar_quarter_end', 'ticker') }} as revenue_growth_zscore,
        {{ zscore('operating_margin_change_pp', 'calendar_quarter_end', 'ticker') }} as operating_margin_change_zscore,
    from metrics
),

gaps as (
    select
        *,
        (revenue_growth_zscore + operating_margin_change_zscore) / 2 as results_zscore,
    from zscores
),

final as (
    select
        ticker,
        group_name,
        fiscal_period_end,
        fiscal_year,
        fiscal_quarter,
        calendar_quarter_end,
        report_date,
        reporting_currency,
        usd_per_unit_period_end,
        revenue_ttm_usd,
        operating_income_ttm_usd,
        rd_ttm_usd,
        capex_ttm_usd,
        ai_investment_ttm_usd,
        investment_intensity_pct,
        investment_growth_yoy_pct,
        revenue_growth_yoy_pct,
        operating_margin_pct,
        operating_margin_change_pp,
        peer_count,
        investment_zscore,
        revenue_growth_zscore,
        operating_margin_change_zscore,
        results_zscore,
        investment_zscore - results_zscore as execution_gap,
        data_source,
        load_id,
    from gaps
)

select * from final
