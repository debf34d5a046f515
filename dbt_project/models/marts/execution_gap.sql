-- Is AI spending turning into results, and is the market paying for it? One
-- row per company (non-benchmark) and fiscal quarter, AS FIRST REPORTED: the
-- vintage of int_fundamentals_ttm known at the quarter's first report_date
-- (earlier quarters as known on that date), so a backtest never sees a later
-- restatement (is_restated flags quarters revised since).
-- Amounts in USD at the FX fixing on or before the fiscal period end; ratios
-- and growth rates in the reporting currency (FX moves are not growth).
--   investment intensity = 100 * (R&D + capex) TTM / revenue TTM
--   incremental return on investment = change in operating income TTM over
--       the year / change in (R&D + capex) TTM over the year; null unless the
--       investment grew
--   market reward = USD total return of the stock over the fiscal quarter
--       and the trailing 12 months (last close on or before each period end),
--       minus that of the us_ai_leader basket / of the stock's benchmark
-- Z-scores within the calendar-quarter cross-section (calendar_quarter_end =
-- calendar quarter end nearest to fiscal_period_end, so NVDA, AVGO, ORCL have
-- peers), population stddev, winsorized at +/- var zscore_clip (3):
--   investment_zscore = avg(z intensity, z investment growth)
--   results_zscore    = avg(z revenue growth, z operating margin change)
--   reward_zscore     = z 12-month return vs the us_ai_leader basket
--   execution_gap = investment_zscore - results_zscore
--   reward_gap    = reward_zscore - results_zscore
-- Z-scores use the whole cross-section and are final - zscores_known_from_date
-- - once every company of the universe reported the quarter (its last report
-- date), or, if some never do, from the first report filed var
-- cross_section_deadline_days (120) after the calendar quarter end. Until then
-- the quarter is provisional (zscores_known_from_date null) and nothing
-- downstream uses it.

-- Incremental by calendar quarter (the z-scores' cross-section; boundary
-- execution_gap, macros/incremental_boundaries.sql): a build
-- recomputes every quarter that a raw row loaded since its last build can
-- change - each quarter with a row whose fiscal period ends on or after the
-- earliest price or FX date or fiscal period end of a new fundamental (a
-- level, a fixing or a TTM dated then moves only rows whose period ends
-- later: every look-up is on or before fiscal_period_end), and, when reports
-- arrived, every quarter whose zscores_known_from_date is unknown or later
-- than the earliest new report (the first report after a quarter's deadline
-- may have changed). A day of prices after the last period end recomputes
-- nothing.

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['ticker', 'fiscal_period_end'],
    on_schema_change='append_new_columns',
) }}

{%- set clip = var('zscore_clip', 3) %}
{%- set recompute_from = date_literal(execution_gap_start()) %}
{%- set reports_from = date_literal(execution_gap_reports_start()) %}

with fundamentals_ttm as (
    select * from {{ ref('int_fundamentals_ttm') }}
),

fx_rates as (
    select * from {{ ref('stg_raw__fx_rates') }}
),

-- read twice below for three columns: not materialized, so each scan reads only those
performance as not materialized (
    select * from {{ ref('int_performance_series') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

first_reports as (
    select * from fundamentals_ttm
    where is_first_report and group_name != 'benchmark'
),

with_period_starts as (
    select
        first_reports.*,
        securities.benchmark_ticker,
        coalesce(
            lag(fiscal_period_end) over ticker_quarters,
            cast(fiscal_period_end - interval 3 month as date)
        ) as quarter_start_candidate,
        lag(fiscal_quarter_index) over ticker_quarters as previous_fiscal_quarter_index,
        cast(date_trunc('quarter', fiscal_period_end + interval 45 day) - interval 1 day as date)
            as calendar_quarter_end,
    from first_reports
    left join securities
        on first_reports.ticker = securities.ticker
    window ticker_quarters as (partition by first_reports.ticker order by fiscal_quarter_index)
),

with_reward_dates as (
    select
        * exclude (quarter_start_candidate, previous_fiscal_quarter_index),
        case
            when previous_fiscal_quarter_index = fiscal_quarter_index - 1 then quarter_start_candidate
            else cast(fiscal_period_end - interval 3 month as date)
        end as quarter_start_date,
        cast(fiscal_period_end - interval 12 month as date) as year_start_date,
        'basket:us_ai_leader' as us_ai_basket_id,
    from with_period_starts
),

quarters_to_build as (
    select calendar_quarter_end from with_reward_dates
    where fiscal_period_end >= {{ recompute_from }}
    {%- if is_incremental() and reports_from not in ["date '0001-01-01'", "date '9999-12-31'"] %}
    union
    select calendar_quarter_end from {{ this }}
    where zscores_known_from_date is null or zscores_known_from_date > {{ reports_from }}
    {%- endif %}
),

rows_to_build as (
    select * from with_reward_dates
    where calendar_quarter_end in (select calendar_quarter_end from quarters_to_build)
),

with_fx as (
    select
        rows_to_build.*,
        case
            when rows_to_build.reporting_currency = 'USD' then 1.0
            else fx_rates.usd_per_unit
        end as usd_per_unit_period_end,
    from rows_to_build
    asof left join fx_rates
        on rows_to_build.reporting_currency = fx_rates.currency
        and rows_to_build.fiscal_period_end >= fx_rates.rate_date
),

{#- every (series, date) the reward columns need: the stock, the us_ai_leader basket and the
    benchmark, each at the period end, the quarter start and the year start -#}
{%- set level_series = [('ticker', 'stock'), ('us_ai_basket_id', 'basket'), ('benchmark_ticker', 'benchmark')] %}
{%- set level_dates = [('fiscal_period_end', 'end'), ('quarter_start_date', 'quarter_start'), ('year_start_date', 'year_start')] %}

level_lookups as (
    select distinct series_id, lookup_date
    from (
        {%- for series_column, _ in level_series %}
        {%- for date_column, _ in level_dates %}
        select {{ series_column }} as series_id, {{ date_column }} as lookup_date from with_fx
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
    )
    where series_id is not null
),

first_lookup as (
    select min(lookup_date) as first_lookup_date from level_lookups
),

-- the levels the look-ups can reach: from the earliest look-up date on, plus each series' last level
-- before it (for a look-up with no level inside the window), so the ASOF join sorts what it needs
levels as (
    select
        series_id,
        trade_date as level_date,
        level_usd,
    from performance
    where level_usd is not null
        and trade_date >= (select first_lookup_date from first_lookup)
    union all
    select
        series_id,
        max(trade_date) as level_date,
        arg_max(level_usd, trade_date) as level_usd,
    from performance
    where level_usd is not null
        and trade_date < (select first_lookup_date from first_lookup)
    group by series_id
),

-- the last level on or before each date: one ASOF join for all nine look-ups
looked_up_levels as (
    select
        level_lookups.series_id,
        level_lookups.lookup_date,
        levels.level_usd,
    from level_lookups
    asof left join levels
        on level_lookups.series_id = levels.series_id
        and level_lookups.lookup_date >= levels.level_date
),

with_levels as (
    select
        with_fx.*,
        {%- for _, alias in level_series %}
        {%- for _, suffix in level_dates %}
        {{ alias }}_{{ suffix }}.level_usd as {{ alias }}_level_{{ suffix }},
        {%- endfor %}
        {%- endfor %}
    from with_fx
    {%- for series_column, alias in level_series %}
    {%- for date_column, suffix in level_dates %}
    left join looked_up_levels as {{ alias }}_{{ suffix }}
        on with_fx.{{ series_column }} = {{ alias }}_{{ suffix }}.series_id
        and with_fx.{{ date_column }} = {{ alias }}_{{ suffix }}.lookup_date
    {%- endfor %}
    {%- endfor %}
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
        is_restated,
        latest_report_date,
        is_derived_from_annual,
        reporting_currency,
        usd_per_unit_period_end,
        revenue_ttm * usd_per_unit_period_end as revenue_ttm_usd,
        operating_income_ttm * usd_per_unit_period_end as operating_income_ttm_usd,
        rd_expense_ttm * usd_per_unit_period_end as rd_ttm_usd,
        capex_ttm * usd_per_unit_period_end as capex_ttm_usd,
        (rd_expense_ttm + capex_ttm) * usd_per_unit_period_end as ai_investment_ttm_usd,
        100 * (rd_expense_ttm + capex_ttm) / nullif(revenue_ttm, 0) as investment_intensity_pct,
        100 * rd_expense_ttm / nullif(revenue_ttm, 0) as rd_intensity_pct,
        100 * capex_ttm / nullif(revenue_ttm, 0) as capex_intensity_pct,
        100 * ((rd_expense_ttm + capex_ttm) / nullif(rd_expense_ttm_year_ago + capex_ttm_year_ago, 0) - 1)
            as investment_growth_yoy_pct,
        100 * (rd_expense_ttm / nullif(rd_expense_ttm_year_ago, 0) - 1) as rd_growth_yoy_pct,
        100 * (capex_ttm / nullif(capex_ttm_year_ago, 0) - 1) as capex_growth_yoy_pct,
        100 * (revenue_ttm / nullif(revenue_ttm_year_ago, 0) - 1) as revenue_growth_yoy_pct,
        100 * operating_income_ttm / nullif(revenue_ttm, 0) as operating_margin_pct,
        100 * operating_income_ttm / nullif(revenue_ttm, 0)
            - 100 * operating_income_ttm_year_ago / nullif(revenue_ttm_year_ago, 0) as operating_margin_change_pp,
        case
            when (rd_expense_ttm + capex_ttm) - (rd_expense_ttm_year_ago + capex_ttm_year_ago) > 0
                then (operating_income_ttm - operating_income_ttm_year_ago)
                    / ((rd_expense_ttm + capex_ttm) - (rd_expense_ttm_year_ago + capex_ttm_year_ago))
        end as incremental_return_on_investment,
        100 * (stock_level_end / stock_level_quarter_start - 1) as stock_return_quarter_pct,
        100 * (stock_level_end / stock_level_year_start - 1) as stock_return_12m_pct,
        100 * (stock_level_end / stock_level_quarter_start - basket_level_end / basket_level_quarter_start)
            as stock_return_quarter_vs_us_ai_leader_pp,
        100 * (stock_level_end / stock_level_year_start - basket_level_end / basket_level_year_start)
            as stock_return_12m_vs_us_ai_leader_pp,
        benchmark_ticker,
        100 * (stock_level_end / stock_level_quarter_start - benchmark_level_end / benchmark_level_quarter_start)
            as stock_return_quarter_vs_benchmark_pp,
        100 * (stock_level_end / stock_level_year_start - benchmark_level_end / benchmark_level_year_start)
            as stock_return_12m_vs_benchmark_pp,
        data_source,
        load_id,
    from with_levels
),

universe_companies as (
    select count(*) as company_count
    from securities
    where group_name != 'benchmark'
),

report_dates as (
    select distinct report_date as later_report_date from first_reports
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
    from metrics
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
