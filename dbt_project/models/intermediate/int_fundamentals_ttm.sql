-- Trailing-twelve-month (TTM) fundamentals per ticker and fiscal quarter.
-- 1. Keep the latest report of each (ticker, fiscal_period_end): restatements
--    replace earlier figures (no point-in-time history for now).
-- 2. TTM = sum of the quarter and the 3 preceding fiscal quarters, by the
--    fiscal quarter index (fiscal_year * 4 + fiscal_quarter), so a missing
--    quarter is detected. A TTM is null unless all 4 consecutive quarters
--    have a non-null value for that measure.

with fundamentals as (
    select * from {{ ref('stg_raw__fundamentals') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

latest_reports as (
    select *
    from fundamentals
    -- quarterly figures only; fiscal-year rows (period_months = 12, 20-F filers) are not summed into TTM
    where period_months = 3
    qualify row_number() over (
        partition by ticker, fiscal_period_end
        order by report_date desc, loaded_at desc
    ) = 1
),

indexed as (
    select
        *,
        fiscal_year * 4 + fiscal_quarter as fiscal_quarter_index,
    from latest_reports
),

ttm_sums as (
    select
        ticker,
        fiscal_period_end,
        fiscal_year,
        fiscal_quarter,
        fiscal_quarter_index,
        report_date,
        reporting_currency,
        revenue,
        operating_income,
        rd_expense,
        capex,
        count(*) over trailing_four_quarters as quarters_in_ttm,
        case when count(revenue) over trailing_four_quarters = 4
            then sum(revenue) over trailing_four_quarters
        end as revenue_ttm,
        case when count(operating_income) over trailing_four_quarters = 4
            then sum(operating_income) over trailing_four_quarters
        end as operating_income_ttm,
        case when count(rd_expense) over trailing_four_quarters = 4
            then sum(rd_expense) over trailing_four_quarters
        end as rd_expense_ttm,
        case when count(capex) over trailing_four_quarters = 4
            then sum(capex) over trailing_four_quarters
        end as capex_ttm,
        data_source,
        load_id,
    from indexed
    window trailing_four_quarters as (
        partition by ticker
        order by fiscal_quarter_index
        range between 3 preceding and current row
    )
),

with_security as (
    select
        ttm_sums.ticker,
        securities.group_name,
        ttm_sums.fiscal_period_end,
        ttm_sums.fiscal_year,
        ttm_sums.fiscal_quarter,
        ttm_sums.fiscal_quarter_index,
        ttm_sums.report_date,
        ttm_sums.reporting_currency,
        ttm_sums.revenue,
        ttm_sums.operating_income,
        ttm_sums.rd_expense,
        ttm_sums.capex,
        ttm_sums.quarters_in_ttm,
        ttm_sums.revenue_ttm,
        ttm_sums.operating_income_ttm,
        ttm_sums.rd_expense_ttm,
        ttm_sums.capex_ttm,
        ttm_sums.data_source,
        ttm_sums.load_id,
    from ttm_sums
    left join securities
        on ttm_sums.ticker = securities.ticker
),

final as (
    select * from with_security
)

select * from final
