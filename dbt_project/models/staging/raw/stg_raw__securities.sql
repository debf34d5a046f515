with source as (
    {{ raw_rows('securities') }}
),

renamed as (
    select
        cast(ticker as varchar) as ticker,
        cast(name as varchar) as security_name,
        cast(group_name as varchar) as group_name,
        cast(exchange as varchar) as exchange,
        cast(currency as varchar) as currency,
        cast(reporting_currency as varchar) as reporting_currency,
        cast(cik as varchar) as cik,
        cast(benchmark_ticker as varchar) as benchmark_ticker,
        cast(market_ticker as varchar) as market_ticker,
        cast(is_synthetic as boolean) as is_synthetic,
        cast(source as varchar) as data_source,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
