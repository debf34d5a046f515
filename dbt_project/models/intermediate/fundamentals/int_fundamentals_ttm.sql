-- Trailing-twelve-month (TTM) fundamentals AS KNOWN at each report: one row
-- per ticker, fiscal quarter and report_date (every version of a quarter is
-- a "vintage", valid from its available_at until the next version's: a
-- vintage uses the versions of the earlier quarters public at its own
-- available_at, never a report_date comparison).
-- Formula: docs block formula_int_fundamentals_ttm_ttm (_fundamentals__docs.md).
-- Incremental by company (boundary fundamental_reports,
-- macros/incremental_boundaries.sql): a build recomputes every vintage of the
-- tickers with fundamentals loaded since its last build (a company's vintages
-- depend on its own reports only), and nothing on a day without new fundamentals.

{{ config(
    materialized='incremental',
    unique_key=['ticker'],
) }}

{%- set measures = ['revenue', 'operating_income', 'net_income', 'rd_expense', 'capex'] %}

with quarters as (
    select * from {{ ref('int_fundamental_quarters') }}
    {%- if is_incremental() and tracks_changes(this) %}
    where {{ fundamental_reports_changed_tickers() }}
    {%- endif %}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

vintages as (
    select
        ticker,
        fiscal_quarter_index as target_quarter_index,
        report_date as vintage_report_date,
        available_at as known_at,
    from quarters
),

versions_known as (
    select
        vintages.ticker,
        vintages.target_quarter_index,
        vintages.vintage_report_date,
        vintages.known_at,
        quarters.fiscal_quarter_index,
        quarters.report_date,
        {% for measure in measures -%}
        quarters.{{ measure }},
        {% endfor -%}
        quarters.load_id,
    from vintages
    inner join quarters
        on vintages.ticker = quarters.ticker
        and quarters.fiscal_quarter_index between vintages.target_quarter_index - 7 and vintages.target_quarter_index
        and quarters.available_at <= vintages.known_at
    qualify row_number() over (
        partition by
            vintages.ticker, vintages.target_quarter_index, vintages.vintage_report_date, quarters.fiscal_quarter_index
        order by quarters.available_at desc, quarters.report_date desc, quarters.loaded_at desc
    ) = 1
),

ttm_sums as (
    select
        ticker,
        target_quarter_index as fiscal_quarter_index,
        vintage_report_date as report_date,
        count(*) filter (where fiscal_quarter_index >= target_quarter_index - 3) as quarters_in_ttm,
        {% for measure in measures -%}
        {% for label, first in [('ttm', 3), ('ttm_year_ago', 7)] -%}
        {#- one value per quarter (versions_known keeps one version each), added oldest first -#}
        case when count({{ measure }}) filter (
            where fiscal_quarter_index between target_quarter_index - {{ first }} and target_quarter_index - {{ first - 3 }}
        ) = 4
            then {% for back in range(first, first - 4, -1) -%}
            max({{ measure }}) filter (where fiscal_quarter_index = target_quarter_index - {{ back }})
            {{- " + " if not loop.last }}
            {%- endfor %}
        end as {{ measure }}_{{ label }},
        {% endfor -%}
        {% endfor -%}
        array_to_string(list_sort(list_distinct(list(load_id))), ',') as ttm_load_ids,
    from versions_known
    group by ticker, target_quarter_index, vintage_report_date
),

with_vintage as (
    select
        quarters.ticker,
        securities.group_name,
        quarters.fiscal_period_end,
        quarters.fiscal_year,
        quarters.fiscal_quarter,
        quarters.fiscal_quarter_index,
        quarters.report_date,
        quarters.available_at,
        lead(quarters.report_date) over quarter_versions as superseded_on,
        row_number() over quarter_versions = 1 as is_first_report,
        count(*) over (partition by quarters.ticker, quarters.fiscal_quarter_index) > 1 as is_restated,
        max(quarters.report_date) over (partition by quarters.ticker, quarters.fiscal_quarter_index)
            as latest_report_date,
        quarters.reporting_currency,
        quarters.is_derived_from_annual,
        {% for measure in measures -%}
        quarters.{{ measure }},
        {% endfor -%}
        quarters.shares_outstanding,
        ttm_sums.quarters_in_ttm,
        {% for measure in measures -%}
        ttm_sums.{{ measure }}_ttm,
        ttm_sums.{{ measure }}_ttm_year_ago,
        {% endfor -%}
        quarters.data_source,
        ttm_sums.ttm_load_ids as load_id,
        {{ inputs_loaded_through(fundamental_reports_inputs()) }} as inputs_loaded_through,
    from quarters
    inner join ttm_sums
        on quarters.ticker = ttm_sums.ticker
        and quarters.fiscal_quarter_index = ttm_sums.fiscal_quarter_index
        and quarters.report_date = ttm_sums.report_date
    left join securities
        on quarters.ticker = securities.ticker
    window quarter_versions as (
        partition by quarters.ticker, quarters.fiscal_quarter_index
        order by quarters.available_at, quarters.report_date
    )
),

final as (
    select * from with_vintage
)

select * from final
