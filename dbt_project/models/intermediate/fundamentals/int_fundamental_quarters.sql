-- Quarterly fundamentals, one row per ticker, fiscal quarter and report
-- (every version of a figure is kept: a restatement is a new report_date).
-- A derived Q4 uses the versions of Q1-Q3 public when the annual report was
-- (available_at), and is public when the annual report is.
-- Quarter rows come from the source's quarterly figures (period_months = 3);
-- a missing Q4 is derived from the fiscal year: docs block
-- formula_int_fundamental_quarters_q4_from_annual (_fundamentals__docs.md).

with fundamentals as (
    select * from {{ ref('stg_raw__fundamentals') }}
),

reported_quarters as (
    select
        *,
        false as is_derived_from_annual,
    from fundamentals
    where period_months = 3
),

fiscal_years as (
    select * from fundamentals
    where period_months = 12
),

fiscal_years_without_q4 as (
    select fiscal_years.*
    from fiscal_years
    where not exists (
        select 1
        from reported_quarters
        where reported_quarters.ticker = fiscal_years.ticker
            and reported_quarters.fiscal_year = fiscal_years.fiscal_year
            and reported_quarters.fiscal_quarter = 4
    )
),

first_three_quarters_as_known as (
    select
        fiscal_years_without_q4.ticker,
        fiscal_years_without_q4.fiscal_year,
        fiscal_years_without_q4.report_date as annual_report_date,
        fiscal_years_without_q4.available_at as annual_available_at,
        reported_quarters.fiscal_quarter,
        reported_quarters.revenue,
        reported_quarters.operating_income,
        reported_quarters.net_income,
        reported_quarters.rd_expense,
        reported_quarters.capex,
        reported_quarters.load_id,
    from fiscal_years_without_q4
    inner join reported_quarters
        on fiscal_years_without_q4.ticker = reported_quarters.ticker
        and fiscal_years_without_q4.fiscal_year = reported_quarters.fiscal_year
        and reported_quarters.fiscal_quarter between 1 and 3
        and reported_quarters.available_at <= fiscal_years_without_q4.available_at
    qualify row_number() over (
        partition by
            fiscal_years_without_q4.ticker,
            fiscal_years_without_q4.fiscal_year,
            fiscal_years_without_q4.report_date,
            reported_quarters.fiscal_quarter
        order by reported_quarters.available_at desc, reported_quarters.report_date desc
    ) = 1
),

first_three_quarter_sums as (
    select
        ticker,
        fiscal_year,
        annual_report_date,
        count(*) as quarters_found,
        {% for measure in ['revenue', 'operating_income', 'net_income', 'rd_expense', 'capex'] -%}
        case when count({{ measure }}) = 3 then sum({{ measure }} order by fiscal_quarter) end as {{ measure }}_9m,
        {% endfor -%}
        string_agg(load_id, ',' order by load_id) as quarter_load_ids,
    from first_three_quarters_as_known
    group by ticker, fiscal_year, annual_report_date
),

derived_q4 as (
    select
        fiscal_years_without_q4.ticker,
        fiscal_years_without_q4.fiscal_period_end,
        fiscal_years_without_q4.fiscal_year,
        4 as fiscal_quarter,
        fiscal_years_without_q4.report_date,
        fiscal_years_without_q4.available_at,
        fiscal_years_without_q4.reporting_currency,
        {% for measure in ['revenue', 'operating_income', 'net_income', 'rd_expense', 'capex'] -%}
        fiscal_years_without_q4.{{ measure }} - first_three_quarter_sums.{{ measure }}_9m as {{ measure }},
        {% endfor -%}
        fiscal_years_without_q4.shares_outstanding,
        3 as period_months,
        fiscal_years_without_q4.data_source,
        array_to_string(
            list_sort(list_distinct(
                string_split(fiscal_years_without_q4.load_id || ',' || first_three_quarter_sums.quarter_load_ids, ',')
            )),
            ','
        ) as load_id,
        fiscal_years_without_q4.loaded_at,
        true as is_derived_from_annual,
    from fiscal_years_without_q4
    inner join first_three_quarter_sums
        on fiscal_years_without_q4.ticker = first_three_quarter_sums.ticker
        and fiscal_years_without_q4.fiscal_year = first_three_quarter_sums.fiscal_year
        and fiscal_years_without_q4.report_date = first_three_quarter_sums.annual_report_date
    where first_three_quarter_sums.quarters_found = 3
),

unioned as (
    select * from reported_quarters
    union all by name
    select * from derived_q4
),

final as (
    select
        ticker,
        fiscal_period_end,
        fiscal_year,
        fiscal_quarter,
        fiscal_year * 4 + fiscal_quarter as fiscal_quarter_index,
        report_date,
        available_at,
        reporting_currency,
        revenue,
        operating_income,
        net_income,
        rd_expense,
        capex,
        shares_outstanding,
        is_derived_from_annual,
        data_source,
        load_id,
        loaded_at,
    from unioned
)

select * from final
