with source as (
    {{ raw_rows('cpi') }}
),

renamed as (
    select
        cast(series_id as varchar) as series_id,
        cast(period_date as date) as month_date,
        cast(value as double) as index_value,
        cast(release_date as date) as release_date,
        cast(is_release_date_estimated as boolean) as is_release_date_estimated,
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
