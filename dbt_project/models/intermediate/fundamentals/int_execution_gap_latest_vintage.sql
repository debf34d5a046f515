-- NOT POINT IN TIME: the current view of execution_gap. One row per company
-- and fiscal quarter: its latest cross-section version (the highest
-- known_at in execution_gap), with what later reports say about the quarter
-- (is_restated, latest_report_date from int_fundamentals_ttm's vintages).
-- Rewritten in place whenever a later version or a restatement arrives, so
-- it answers "what do we know now", never "what was known then": a
-- backtest reads execution_gap (or int_execution_gap_known_daily).
-- Docs block formula_execution_gap_latest_vintage
-- (marts/execution_gap/_execution_gap__docs.md). In the intermediate schema on
-- purpose: every mart is point in time (tests/test_point_in_time.py), this is not.

with execution_gap as (
    select * from {{ ref('execution_gap') }}
),

fundamentals_ttm as (
    select * from {{ ref('int_fundamentals_ttm') }}
),

latest_versions as (
    select * from execution_gap
    qualify row_number() over (partition by ticker, fiscal_period_end order by known_at desc) = 1
),

quarter_vintages as (
    select
        ticker,
        fiscal_period_end,
        count(*) > 1 as is_restated,
        max(report_date) as latest_report_date,
        max(available_at) as latest_report_available_at,
    from fundamentals_ttm
    group by ticker, fiscal_period_end
),

final as (
    select
        latest_versions.* exclude (inputs_loaded_through),
        quarter_vintages.is_restated,
        quarter_vintages.latest_report_date,
        greatest(latest_versions.known_at, quarter_vintages.latest_report_available_at) as latest_known_at,
    from latest_versions
    left join quarter_vintages
        on latest_versions.ticker = quarter_vintages.ticker
        and latest_versions.fiscal_period_end = quarter_vintages.fiscal_period_end
)

select * from final
