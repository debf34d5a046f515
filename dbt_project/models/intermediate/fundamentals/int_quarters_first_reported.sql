-- Every company's fiscal quarters AS FIRST REPORTED (the vintage of
-- int_fundamentals_ttm known at the quarter's first report_date, earlier
-- quarters as known on that date), non-benchmark companies only, with what
-- the execution gap compares: the calendar quarter of the cross-section, the
-- dates of the market-reward windows, the FX fixing at the period end and
-- the TTM investment and results ratios. Formulas: docs blocks
-- formula_execution_gap_* (marts/execution_gap/_execution_gap__docs.md). A
-- view: one row per company and quarter, a few thousand rows.

with fundamentals_ttm as (
    select * from {{ ref('int_fundamentals_ttm') }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

fx_rates as (
    select * from {{ ref('stg_raw__fx_rates') }}
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
    from with_period_starts
),

with_period_end_fx as (
    select
        with_reward_dates.*,
        case
            when with_reward_dates.reporting_currency = 'USD' then 1.0
            else fx_rates.usd_per_unit
        end as usd_per_unit_period_end,
    from with_reward_dates
    asof left join fx_rates
        on with_reward_dates.reporting_currency = fx_rates.currency
        and with_reward_dates.fiscal_period_end >= fx_rates.rate_date
),

-- mean of the daily fixings after the start and up to the end of the fiscal quarter and of the four
-- quarters (exact sums: the same bits on every build)
average_fx as (
    select
        with_period_end_fx.ticker,
        with_period_end_fx.fiscal_period_end,
        {%- for label, start in [('quarter', 'quarter_start_date'), ('ttm', 'year_start_date')] %}
        {%- set in_period = 'filter (where fx_rates.rate_date > with_period_end_fx.' ~ start ~ ')' %}
        {{ from_fixed_point('sum(' ~ fixed_point('fx_rates.usd_per_unit') ~ ') ' ~ in_period) }}
            / nullif(count(fx_rates.usd_per_unit) {{ in_period }}, 0) as usd_per_unit_{{ label }}_avg,
        {%- endfor %}
    from with_period_end_fx
    inner join fx_rates
        on with_period_end_fx.reporting_currency = fx_rates.currency
        and fx_rates.rate_date > least(with_period_end_fx.quarter_start_date, with_period_end_fx.year_start_date)
        and fx_rates.rate_date <= with_period_end_fx.fiscal_period_end
    group by with_period_end_fx.ticker, with_period_end_fx.fiscal_period_end
),

with_fx as (
    select
        with_period_end_fx.*,
        case
            when with_period_end_fx.reporting_currency = 'USD' then 1.0
            else average_fx.usd_per_unit_quarter_avg
        end as usd_per_unit_quarter_avg,
        case
            when with_period_end_fx.reporting_currency = 'USD' then 1.0
            else average_fx.usd_per_unit_ttm_avg
        end as usd_per_unit_ttm_avg,
    from with_period_end_fx
    left join average_fx
        on with_period_end_fx.ticker = average_fx.ticker
        and with_period_end_fx.fiscal_period_end = average_fx.fiscal_period_end
),

ratios as (
    select
        operating_income_ttm,
        revenue_ttm,
        ticker,
        group_name,
        fiscal_period_end,
        fiscal_year,
        fiscal_quarter,
        calendar_quarter_end,
        fiscal_quarter_index,
        report_date,
        available_at,
        is_derived_from_annual,
        reporting_currency,
        usd_per_unit_period_end,
        usd_per_unit_quarter_avg,
        usd_per_unit_ttm_avg,
        revenue * usd_per_unit_quarter_avg as revenue_quarter_usd,
        operating_income * usd_per_unit_quarter_avg as operating_income_quarter_usd,
        net_income * usd_per_unit_quarter_avg as net_income_quarter_usd,
        rd_expense * usd_per_unit_quarter_avg as rd_quarter_usd,
        capex * usd_per_unit_quarter_avg as capex_quarter_usd,
        revenue_ttm * usd_per_unit_ttm_avg as revenue_ttm_usd,
        operating_income_ttm * usd_per_unit_ttm_avg as operating_income_ttm_usd,
        net_income_ttm * usd_per_unit_ttm_avg as net_income_ttm_usd,
        rd_expense_ttm * usd_per_unit_ttm_avg as rd_ttm_usd,
        capex_ttm * usd_per_unit_ttm_avg as capex_ttm_usd,
        (rd_expense_ttm + capex_ttm) * usd_per_unit_ttm_avg as ai_investment_ttm_usd,
        shares_outstanding,
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
        benchmark_ticker,
        quarter_start_date,
        year_start_date,
        data_source,
        load_id,
    from with_fx
),

-- results over the next L quarters against the investment intensity L quarters earlier, on the later
-- quarter's row (known when it is)
with_lag as (
    select
        ratios.* exclude (operating_income_ttm, revenue_ttm),
        lag_start.fiscal_period_end as lag_start_fiscal_period_end,
        lag_start.investment_intensity_pct as investment_intensity_lag_start_pct,
        100 * (ratios.revenue_ttm / nullif(lag_start.revenue_ttm, 0) - 1) as revenue_growth_over_lag_pct,
        100 * ratios.operating_income_ttm / nullif(ratios.revenue_ttm, 0)
            - 100 * lag_start.operating_income_ttm / nullif(lag_start.revenue_ttm, 0)
            as operating_margin_change_over_lag_pp,
    from ratios
    left join ratios as lag_start
        on ratios.ticker = lag_start.ticker
        and lag_start.fiscal_quarter_index
            = ratios.fiscal_quarter_index - {{ number_var('spend_to_results_lag_quarters', 4) }}
),

final as (
    select * from with_lag
)

select * from final
