with source as (
    {{ raw_rows('fx_rates') }}
),

renamed as (
    select
        cast(currency as varchar) as currency,
        cast(rate_date as date) as rate_date,
        cast(usd_per_unit as double) as usd_per_unit,
        cast(pair as varchar) as fx_pair,
        cast(source as varchar) as data_source,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
