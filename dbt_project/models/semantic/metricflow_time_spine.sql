-- The daily time spine MetricFlow (the dbt Semantic Layer) joins metrics to:
-- one row per calendar day over the span any mart can cover.

with days as (
    select
        cast(unnest(generate_series(date '2000-01-01', date '2040-12-31', interval 1 day)) as date) as date_day,
),

final as (
    select * from days
)

select * from final
