with source as (
    {{ raw_rows('sec_filings') }}
),

renamed as (
    select
        cast(ticker as varchar) as ticker,
        cast(cik as varchar) as cik,
        cast(accession_number as varchar) as accession_number,
        cast(form as varchar) as form,
        cast(items as varchar) as items,
        cast(filing_date as date) as filing_date,
        cast(accepted_at as timestamp) as accepted_at,
        cast(report_date as date) as report_date,
        cast(primary_document as varchar) as primary_document,
        cast(source as varchar) as data_source,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
