-- Every return series the performance marts compare, one row per series_id
-- and trade_date: each security (int_daily_returns) and each equal-weight
-- basket (int_baskets_equal_weighted), in one shape. Formula of the USD
-- level: docs block formula_int_performance_series_level_usd
-- (_performance__docs.md). A view: both inputs are incremental tables, and a
-- filter on trade_date reaches their scans.

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
),

baskets as (
    select * from {{ ref('int_baskets_equal_weighted') }}
),

security_series as (
    select
        ticker as series_id,
        'security' as series_type,
        ticker,
        group_name,
        trade_date,
        exchange,
        currency,
        adj_close as level_local,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        adj_close_usd as level_usd,
        cast(null as hugeint) as log_level_fixed_point,
        daily_return_usd,
        cast(null as bigint) as member_count,
        benchmark_ticker,
        data_source,
        load_id,
        inputs_loaded_through,
    from daily_returns
),

basket_series as (
    select
        series_id,
        'basket' as series_type,
        cast(null as varchar) as ticker,
        group_name,
        trade_date,
        cast(null as varchar) as exchange,
        'USD' as currency,
        cast(null as double) as level_local,
        cast(null as double) as daily_return_local,
        cast(null as double) as daily_price_return_local,
        cast(null as double) as usd_per_unit,
        level_usd,
        log_level_fixed_point,
        daily_return_usd,
        member_count,
        benchmark_ticker,
        data_source,
        load_id,
        inputs_loaded_through,
    from baskets
),

unioned as (
    select * from security_series
    union all by name
    select * from basket_series
),

final as (
    select
        series_id,
        series_type,
        ticker,
        group_name,
        trade_date,
        exchange,
        currency,
        level_local,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        level_usd,
        log_level_fixed_point,
        daily_return_usd,
        member_count,
        benchmark_ticker,
        data_source,
        load_id,
        inputs_loaded_through,
    from unioned
)

select * from final
