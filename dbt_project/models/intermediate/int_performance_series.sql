-- Every return series the performance marts compare, one row per series_id
-- and trade_date, with a USD total-return level:
--   security: level_usd = adj_close_usd (the listing's own trading days);
--             level_local = adj_close.
--   basket:   equal-weight, rebalanced daily: daily_return_usd = the average
--             daily_return_usd of the members that traded on trade_date (a
--             closed market contributes no return that day, never a zero);
--             level_usd = product(1 + daily_return_usd) since the basket's
--             first date (1 on that date). Dates are the union of the
--             members' trading days.

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
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
        daily_return_usd,
        cast(null as bigint) as member_count,
        benchmark_ticker,
        data_source,
        load_id,
    from daily_returns
),

basket_members as (
    select * from daily_returns
    where group_name in ('china_tech', 'us_ai_leader')
),

basket_daily as (
    select
        'basket:' || group_name as series_id,
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
        -- ordered so the float sum runs in the same order on every build (bit-identical rebuilds)
        avg(daily_return_usd order by ticker) as daily_return_usd,
        count(daily_return_usd) as member_count,
        {{ group_benchmark_ticker('group_name') }} as benchmark_ticker,
        string_agg(distinct data_source, ',' order by data_source) as data_source,
        string_agg(distinct load_id, ',' order by load_id) as load_id,
    from basket_members
    group by group_name, trade_date
),

basket_series as (
    select
        * exclude (daily_return_usd, member_count, benchmark_ticker, data_source, load_id),
        product(1 + coalesce(daily_return_usd, 0)) over (
            partition by series_id
            order by trade_date
            rows between unbounded preceding and current row
        ) as level_usd,
        daily_return_usd,
        member_count,
        benchmark_ticker,
        data_source,
        load_id,
    from basket_daily
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
        daily_return_usd,
        member_count,
        benchmark_ticker,
        data_source,
        load_id,
    from unioned
)

select * from final
