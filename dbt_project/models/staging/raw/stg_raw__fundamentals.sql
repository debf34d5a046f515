with source as (
    {{ raw_rows('fundamentals') }}
),

renamed as (
    select
        cast(ticker as varchar) as ticker,
        cast(fiscal_period_end as date) as fiscal_period_end,
        cast(fiscal_year as integer) as fiscal_year,
        cast(fiscal_quarter as integer) as fiscal_quarter,
        cast(report_date as date) as report_date,
        cast(currency as varchar) as reporting_currency,
        cast(revenue as double) as revenue,
        cast(operating_income as double) as operating_income,
        cast(net_income as double) as net_income,
        cast(rd_expense as double) as rd_expense,
        cast(capex as double) as capex,
        cast(shares_outstanding as double) as shares_outstanding,
        cast(period_months as integer) as period_months,
        cast(source as varchar) as data_source,
        cast(available_at as timestamp) as available_at,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
