-- USD performance of every security, of the two equal-weight baskets and of
-- the basket spread, one row per series_id and trade_date.
--   security: cum_return_usd = adj_close_usd / adj_close_usd on the first date
--             with a USD price - 1 (= product(1 + daily_return_usd) - 1).
--   basket:   daily_return_usd = avg(daily_return_usd) of the members that
--             traded that date (closed markets contribute nothing),
--             cum_return_usd = product(1 + daily_return_usd) - 1, daily rebalanced.
--   spread:   cum_return_usd = china_tech basket cum - us_ai_leader basket cum
--             on the dates both baskets have a value.
--   benchmark_cum_return_usd: the benchmark's latest adj_close_usd on or
--             before trade_date / its level on the series' base date - 1.

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
        adj_close,
        daily_return_local,
        usd_per_unit,
        adj_close_usd,
        daily_return_usd,
        cast(null as bigint) as member_count,
        benchmark_ticker,
        data_source,
        load_id,
    from daily_returns
),

security_cum_returns as (
    select
        *,
        min(trade_date) filter (where adj_close_usd is not null)
            over (partition by series_id) as base_date,
    from security_series
),

security_performance as (
    select
        * exclude (base_date),
        adj_close_usd / max(adj_close_usd) filter (where trade_date = base_date)
            over (partition by series_id) - 1 as cum_return_usd,
    from security_cum_returns
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
        cast(null as double) as adj_close,
        cast(null as double) as daily_return_local,
        cast(null as double) as usd_per_unit,
        cast(null as double) as adj_close_usd,
        -- ordered so the float sum runs in the same order on every build (bit-identical rebuilds)
        avg(daily_return_usd order by ticker) as daily_return_usd,
        count(daily_return_usd) as member_count,
        {{ group_benchmark_ticker('group_name') }} as benchmark_ticker,
        string_agg(distinct data_source, ',' order by data_source) as data_source,
        string_agg(distinct load_id, ',' order by load_id) as load_id,
    from basket_members
    group by group_name, trade_date
),

basket_performance as (
    select
        *,
        product(1 + coalesce(daily_return_usd, 0)) over (
            partition by series_id
            order by trade_date
            rows between unbounded preceding and current row
        ) - 1 as cum_return_usd,
    from basket_daily
),

security_and_basket_performance as (
    select * from security_performance
    union all by name
    select * from basket_performance
),

benchmark_levels as (
    select
        ticker as benchmark_ticker,
        trade_date as benchmark_trade_date,
        adj_close_usd as benchmark_adj_close_usd,
    from daily_returns
    where adj_close_usd is not null
),

with_benchmark_level as (
    select
        series.*,
        benchmark_levels.benchmark_adj_close_usd,
    from security_and_basket_performance as series
    asof left join benchmark_levels
        on series.benchmark_ticker = benchmark_levels.benchmark_ticker
        and series.trade_date >= benchmark_levels.benchmark_trade_date
),

with_base_date as (
    select
        *,
        min(trade_date) filter (where cum_return_usd is not null)
            over (partition by series_id) as base_date,
    from with_benchmark_level
),

with_benchmark_return as (
    select
        * exclude (base_date, benchmark_adj_close_usd),
        benchmark_adj_close_usd
            / max(benchmark_adj_close_usd) filter (where trade_date = base_date)
                over (partition by series_id)
            - 1 as benchmark_cum_return_usd,
    from with_base_date
),

with_excess_return as (
    select
        *,
        cum_return_usd - benchmark_cum_return_usd as excess_cum_return_usd,
    from with_benchmark_return
),

china_basket as (
    select * from basket_performance
    where series_id = 'basket:china_tech'
),

us_ai_basket as (
    select * from basket_performance
    where series_id = 'basket:us_ai_leader'
),

spread_performance as (
    select
        'spread:china_tech_minus_us_ai_leader' as series_id,
        'spread' as series_type,
        cast(null as varchar) as ticker,
        cast(null as varchar) as group_name,
        china_basket.trade_date,
        cast(null as varchar) as exchange,
        'USD' as currency,
        cast(null as double) as adj_close,
        cast(null as double) as daily_return_local,
        cast(null as double) as usd_per_unit,
        cast(null as double) as adj_close_usd,
        cast(null as double) as daily_return_usd,
        cast(null as bigint) as member_count,
        cast(null as varchar) as benchmark_ticker,
        array_to_string(
            list_sort(list_distinct(string_split(china_basket.data_source || ',' || us_ai_basket.data_source, ','))),
            ','
        ) as data_source,
        array_to_string(
            list_sort(list_distinct(string_split(china_basket.load_id || ',' || us_ai_basket.load_id, ','))),
            ','
        ) as load_id,
        china_basket.cum_return_usd - us_ai_basket.cum_return_usd as cum_return_usd,
        cast(null as double) as benchmark_cum_return_usd,
        cast(null as double) as excess_cum_return_usd,
    from china_basket
    inner join us_ai_basket
        on china_basket.trade_date = us_ai_basket.trade_date
),

all_series as (
    select * from with_excess_return
    union all by name
    select * from spread_performance
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
        adj_close,
        daily_return_local,
        usd_per_unit,
        adj_close_usd,
        daily_return_usd,
        cum_return_usd,
        member_count,
        benchmark_ticker,
        benchmark_cum_return_usd,
        excess_cum_return_usd,
        data_source,
        load_id,
    from all_series
)

select * from final
