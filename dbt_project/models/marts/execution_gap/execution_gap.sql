-- Is AI spending turning into results, and is the market paying for it? One
-- row per company (non-benchmark) and fiscal quarter, AS FIRST REPORTED.
-- Formulas: docs blocks formula_execution_gap_* (_execution_gap__docs.md).
-- Steps: int_quarters_first_reported (TTM investment and results ratios, FX,
-- the calendar quarter) and int_quarterly_market_rewards (the stock's
-- returns against the us_ai_leader basket and its benchmark) -> here: the
-- z-scores within each calendar quarter's cross-section, the composites and
-- gaps, and the date the cross-section became final (zscores_known_from_date).
-- Incremental (boundary execution_gap, macros/incremental_boundaries.sql), by
-- calendar quarter (the z-scores' cross-section): a build recomputes each
-- quarter with a row whose fiscal period ends on or after the earliest price
-- or FX date or fiscal period end loaded since its last build, and, when
-- reports arrived, every quarter whose zscores_known_from_date is unknown or
-- later than the earliest new report (the first report after a quarter's
-- deadline may have changed). A day of prices after the last period end
-- recomputes nothing.

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['ticker', 'fiscal_period_end'],
    on_schema_change='append_new_columns',
    meta={'publish': {'parquet_partition_by': 'fiscal_period_end'}},
) }}

{%- set clip = var('zscore_clip', 3) %}
{%- set recompute_from = date_literal(execution_gap_start()) %}
{%- set reports_from = date_literal(execution_gap_reports_start()) %}

with quarters as (
    select * from {{ ref('int_quarters_first_reported') }}
),

market_rewards as (
    select * from {{ ref('int_quarterly_market_rewards') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

quarters_to_build as (
    select calendar_quarter_end from quarters
    where fiscal_period_end >= {{ recompute_from }}
    {%- if is_incremental() and reports_from not in ["date '0001-01-01'", "date '9999-12-31'"] %}
    union
    select calendar_quarter_end from {{ this }}
    where zscores_known_from_date is null or zscores_known_from_date > {{ reports_from }}
    {%- endif %}
),

rows_to_build as (
    select
        quarters.*,
        market_rewards.stock_return_quarter_pct,
        market_rewards.stock_return_12m_pct,
        market_rewards.stock_return_quarter_vs_us_ai_leader_pp,
        market_rewards.stock_return_12m_vs_us_ai_leader_pp,
        market_rewards.stock_return_quarter_vs_benchmark_pp,
        market_rewards.stock_return_12m_vs_benchmark_pp,
    from quarters
    left join market_rewards
        on quarters.ticker = market_rewards.ticker
        and quarters.fiscal_period_end = market_rewards.fiscal_period_end
    where quarters.calendar_quarter_end in (select calendar_quarter_end from quarters_to_build)
),

universe_companies as (
    select count(*) as company_count
    from securities
    where group_name != 'benchmark'
),

report_dates as (
    select distinct report_date as later_report_date from quarters
),

zscores as (
    select
        *,
        count(*) over (partition by calendar_quarter_end) as peer_count,
        max(report_date) over (partition by calendar_quarter_end) as last_peer_report_date,
        {{ zscore('investment_intensity_pct', 'calendar_quarter_end', 'ticker', clip) }}
            as investment_intensity_zscore,
        {{ zscore('investment_growth_yoy_pct', 'calendar_quarter_end', 'ticker', clip) }}
            as investment_growth_zscore,
        {{ zscore('revenue_growth_yoy_pct', 'calendar_quarter_end', 'ticker', clip) }} as revenue_growth_zscore,
        {{ zscore('operating_margin_change_pp', 'calendar_quarter_end', 'ticker', clip) }}
            as operating_margin_change_zscore,
        {{ zscore('stock_return_12m_vs_us_ai_leader_pp', 'calendar_quarter_end', 'ticker', clip) }}
            as reward_zscore,
    from rows_to_build
),

quarter_deadlines as (
    select distinct
        calendar_quarter_end,
        cast(calendar_quarter_end + to_days({{ var('cross_section_deadline_days', 120) }}) as date) as deadline_date,
    from zscores
),

first_reports_after_deadline as (
    select
        quarter_deadlines.calendar_quarter_end,
        report_dates.later_report_date as first_report_after_deadline,
    from quarter_deadlines
    asof left join report_dates
        on report_dates.later_report_date >= quarter_deadlines.deadline_date
),

with_known_date as (
    select
        zscores.*,
        case
            when zscores.peer_count >= (select company_count from universe_companies)
                then zscores.last_peer_report_date
            else first_reports_after_deadline.first_report_after_deadline
        end as zscores_known_from_date,
    from zscores
    left join first_reports_after_deadline
        on zscores.calendar_quarter_end = first_reports_after_deadline.calendar_quarter_end
),

composites as (
    select
        *,
        (investment_intensity_zscore + investment_growth_zscore) / 2 as investment_zscore,
        (revenue_growth_zscore + operating_margin_change_zscore) / 2 as results_zscore,
    from with_known_date
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
        is_restated,
        latest_report_date,
        is_derived_from_annual,
        reporting_currency,
        usd_per_unit_period_end,
        revenue_ttm_usd,
        operating_income_ttm_usd,
        rd_ttm_usd,
        capex_ttm_usd,
        ai_investment_ttm_usd,
        investment_intensity_pct,
        rd_intensity_pct,
        capex_intensity_pct,
        investment_growth_yoy_pct,
        rd_growth_yoy_pct,
        capex_growth_yoy_pct,
        revenue_growth_yoy_pct,
        operating_margin_pct,
        operating_margin_change_pp,
        incremental_return_on_investment,
        stock_return_quarter_pct,
        stock_return_12m_pct,
        stock_return_quarter_vs_us_ai_leader_pp,
        stock_return_12m_vs_us_ai_leader_pp,
        benchmark_ticker,
        stock_return_quarter_vs_benchmark_pp,
        stock_return_12m_vs_benchmark_pp,
        peer_count,
        zscores_known_from_date,
        investment_intensity_zscore,
        investment_growth_zscore,
        investment_zscore,
        revenue_growth_zscore,
        operating_margin_change_zscore,
        results_zscore,
        reward_zscore,
        investment_zscore - results_zscore as execution_gap,
        reward_zscore - results_zscore as reward_gap,
        data_source,
        load_id,
        {{ inputs_loaded_through(execution_gap_inputs()) }} as inputs_loaded_through,
    from composites
)

select * from final
