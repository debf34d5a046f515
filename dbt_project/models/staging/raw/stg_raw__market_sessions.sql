with source as (
    {{ raw_rows('market_sessions') }}
),

renamed as (
    select
        cast(exchange as varchar) as exchange,
        cast(session_date as date) as session_date,
        cast(open_at as timestamp) as open_at,
        cast(close_at as timestamp) as close_at,
        cast(source as varchar) as data_source,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
