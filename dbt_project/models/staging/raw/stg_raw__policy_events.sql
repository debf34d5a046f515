with source as (
    {{ raw_rows('policy_events') }}
),

renamed as (
    select
        cast(event_id as varchar) as event_id,
        cast(event_date as date) as event_date,
        cast(category as varchar) as category,
        cast(region as varchar) as region,
        cast(title as varchar) as title,
        cast(source_url as varchar) as source_url,
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
