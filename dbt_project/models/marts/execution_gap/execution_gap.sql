-- Is AI spending turning into results, and is the market paying for it? One
-- row per company (non-benchmark), fiscal quarter and version of its
-- calendar quarter's cross-section (known_at), AS FIRST REPORTED.
-- Formulas: docs blocks formula_execution_gap_* (_execution_gap__docs.md).
-- Steps: int_quarters_first_reported (TTM investment and results ratios, FX,
-- the calendar quarter, the lag columns) and int_quarterly_market_rewards
-- (the stock's returns against the us_ai_leader basket and its benchmark) ->
-- here: the versions of each calendar quarter's cross-section, the z-scores
-- within each version, the composites and gaps.
-- Versions (docs block formula_execution_gap_known_at): the first when every
-- company of the universe has reported or at the deadline, whichever comes
-- first; then one per company whose first report became public after it. A
-- version holds only the companies public at its known_at, and a late
-- report never rewrites an earlier version: it adds one.
-- Incremental (boundary execution_gap, macros/incremental_boundaries.sql), by
-- calendar quarter: a build recomputes every version of each quarter with a
-- row whose fiscal period ends on or after the earliest price or FX date or
-- fiscal period end loaded since its last build (a late report carries its
-- own fiscal_period_end). The pre-hook first deletes those quarters, so a
-- version whose known_at moved (the quarter completed before its deadline)
-- leaves no stale row behind. A day of prices after the last period end
-- recomputes nothing.

{%- set recompute_from = date_literal(execution_gap_start()) %}

{{ config(
    materialized='incremental',
    unique_key=['ticker', 'fiscal_period_end', 'known_at'],
    meta={'publish': {'parquet_partition_by': 'fiscal_period_end'}},
    pre_hook="{{ execution_gap_delete_rebuilt_quarters() }}",
) }}

{%- set clip = number_var('zscore_clip', 3) %}

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
    select distinct calendar_quarter_end from quarters
    where fiscal_period_end >= {{ recompute_from }}
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

-- when each calendar quarter's first version is known: the last report if every company reported
-- before the deadline, else the deadline (00:00 UTC, cross_section_deadline_days after the quarter end)
quarter_first_versions as (
    select
        calendar_quarter_end,
        cast(calendar_quarter_end + to_days({{ number_var('cross_section_deadline_days', 120) }}) as timestamp)
            as deadline_at,
        case
            when count(*) >= (select company_count from universe_companies)
                then least(max(available_at), deadline_at)
            else deadline_at
        end as first_version_at,
    from rows_to_build
    group by calendar_quarter_end
),

-- each company enters its quarter's cross-section at the first version or, reporting later, at its report
members as (
    select
        rows_to_build.*,
        greatest(rows_to_build.available_at, quarter_first_versions.first_version_at) as entered_at,
    from rows_to_build
    inner join quarter_first_versions
        on rows_to_build.calendar_quarter_end = quarter_first_versions.calendar_quarter_end
),

versions as (
    select distinct
        calendar_quarter_end,
        entered_at as known_at,
    from members
),

-- every version with the companies public at its known_at
versioned_members as (
    select
        members.* exclude (entered_at),
        versions.known_at,
        dense_rank() over (partition by versions.calendar_quarter_end order by versions.known_at)
            as cross_section_version,
    from versions
    inner join members
        on versions.calendar_quarter_end = members.calendar_quarter_end
        and members.entered_at <= versions.known_at
),

zscores as (
    select
        *,
        count(*) over (partition by calendar_quarter_end, known_at) as peer_count,
        {{ zscore('investment_intensity_pct', 'calendar_quarter_end, known_at', 'ticker', clip) }}
            as investment_intensity_zscore,
        {{ zscore('investment_growth_yoy_pct', 'calendar_quarter_end, known_at', 'ticker', clip) }}
            as investment_growth_zscore,
        {{ zscore('revenue_growth_yoy_pct', 'calendar_quarter_end, known_at', 'ticker', clip) }} as revenue_growth_zscore,
        {{ zscore('operating_margin_change_pp', 'calendar_quarter_end, known_at', 'ticker', clip) }}
            as operating_margin_change_zscore,
        {{ zscore('stock_return_12m_vs_us_ai_leader_pp', 'calendar_quarter_end, known_at', 'ticker', clip) }}
            as reward_zscore,
    from versioned_members
),

composites as (
    select
        *,
        (investment_intensity_zscore + investment_growth_zscore) / 2 as investment_zscore,
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
        known_at,
        cross_section_version,
        report_date,
        available_at as report_available_at,
        is_derived_from_annual,
        reporting_currency,
        usd_per_unit_period_end,
        usd_per_unit_quarter_avg,
        usd_per_unit_ttm_avg,
        revenue_quarter_usd,
        operating_income_quarter_usd,
        net_income_quarter_usd,
        rd_quarter_usd,
        capex_quarter_usd,
        revenue_ttm_usd,
        operating_income_ttm_usd,
        net_income_ttm_usd,
        rd_ttm_usd,
        capex_ttm_usd,
        ai_investment_ttm_usd,
        shares_outstanding,
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
        lag_start_fiscal_period_end,
        investment_intensity_lag_start_pct,
        revenue_growth_over_lag_pct,
        operating_margin_change_over_lag_pp,
        stock_return_quarter_pct,
        stock_return_12m_pct,
        stock_return_quarter_vs_us_ai_leader_pp,
        stock_return_12m_vs_us_ai_leader_pp,
        benchmark_ticker,
        stock_return_quarter_vs_benchmark_pp,
        stock_return_12m_vs_benchmark_pp,
        peer_count,
        peer_count >= (select company_count from universe_companies) as is_cross_section_complete,
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
