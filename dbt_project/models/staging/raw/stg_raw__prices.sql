with source as (
    {{ raw_rows('prices') }}
),

renamed as (
    select
        cast(ticker as varchar) as ticker,
        cast(trade_date as date) as trade_date,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(adj_close as double) as adj_close,
        cast(volume as bigint) as volume,
        cast(dividend as double) as dividend_per_share,
        cast(split_ratio as double) as split_ratio,
        cast(currency as varchar) as currency,
        cast(exchange as varchar) as exchange,
        cast(source as varchar) as data_source,
        cast(load_id as varchar) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
    from source
),

final as (
    select * from renamed
)

select * from final
