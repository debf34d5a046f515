-- USD performance of every security (companies and benchmarks), of the two
-- equal-weight daily-rebalanced baskets and of the basket spread: one row per
-- series_id and trade_date. Formulas: docs blocks formula_relative_performance_*
-- (_relative_performance__docs.md) and those of the int_ models it reads.
-- Steps: int_performance_series (levels) -> int_performance_returns
-- (cumulative, rolling, benchmark, excess) and int_performance_rolling_windows
-- (volatility, beta, drawdown) -> here: the CPI known at each date
-- (int_cpi_known_daily: real return) and the execution gap known at it
-- (int_execution_gap_known_daily), and the spread of the baskets.
-- Incremental (boundary relative_performance, macros/incremental_boundaries.sql):
-- rows dated on or after the earliest date touched by a price, FX, CPI or
-- fundamental row loaded since the last build are recomputed.

{{ config(
    materialized='incremental',
    unique_key=['series_id', 'trade_date'],
    meta={'publish': {'parquet_partition_by': 'trade_date'}},
) }}

{%- set recompute_from = date_literal(relative_performance_start()) %}

with performance_series as (
    select * from {{ ref('int_performance_series') }}
    where trade_date >= {{ recompute_from }}
),

performance_returns as (
    select * from {{ ref('int_performance_returns') }}
    where trade_date >= {{ recompute_from }}
),

rolling_windows as (
    select * from {{ ref('int_performance_rolling_windows') }}
    where trade_date >= {{ recompute_from }}
),

cpi_known as (
    select * from {{ ref('int_cpi_known_daily') }}
),

execution_gap_known as (
    select * from {{ ref('int_execution_gap_known_daily') }}
    where trade_date >= {{ recompute_from }}
),

securities as (
    select * from {{ ref('stg_raw__securities') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
    where session_date >= {{ recompute_from }}
),

series_measures as (
    select
        performance_series.* exclude (inputs_loaded_through, log_level_fixed_point),
        performance_returns.* exclude (series_id, trade_date, inputs_loaded_through),
        rolling_windows.* exclude (series_id, trade_date, inputs_loaded_through),
    from performance_series
    left join performance_returns
        on performance_series.series_id = performance_returns.series_id
        and performance_series.trade_date = performance_returns.trade_date
    left join rolling_windows
        on performance_series.series_id = rolling_windows.series_id
        and performance_series.trade_date = rolling_windows.trade_date
),

-- CPI known at the close of the listing's market on the trade date and on the base date: the real
-- return. A basket (no exchange of its own) closes with its last market, New York (XNYS).
with_real_return as (
    select
        series_measures.*,
        trade_date_cpi.cpi_month_known,
        trade_date_cpi.cpi_index_known,
        (1 + series_measures.cum_return_usd) * base_date_cpi.cpi_index_known / trade_date_cpi.cpi_index_known - 1
            as real_cum_return_usd,
    from series_measures
    left join cpi_known as trade_date_cpi
        on coalesce(series_measures.exchange, 'XNYS') = trade_date_cpi.exchange
        and series_measures.trade_date = trade_date_cpi.calendar_date
    left join cpi_known as base_date_cpi
        on coalesce(series_measures.exchange, 'XNYS') = base_date_cpi.exchange
        and series_measures.base_trade_date = base_date_cpi.calendar_date
),

with_execution_gap as (
    select
        with_real_return.*,
        execution_gap_known.known_fiscal_period_end,
        execution_gap_known.known_execution_gap,
        execution_gap_known.known_reward_gap,
    from with_real_return
    left join execution_gap_known
        on with_real_return.ticker = execution_gap_known.ticker
        and with_real_return.trade_date = execution_gap_known.trade_date
),

china_basket as (
    select * from with_real_return
    where series_id = 'basket:china_tech'
),

us_ai_basket as (
    select * from with_real_return
    where series_id = 'basket:us_ai_leader'
),

spread_series as (
    select
        'spread:china_tech_minus_us_ai_leader' as series_id,
        'spread' as series_type,
        china_basket.trade_date,
        'USD' as currency,
        least(china_basket.base_trade_date, us_ai_basket.base_trade_date) as base_trade_date,
        {% for measure in [
            'cum_return_usd', 'return_1m_usd', 'return_3m_usd', 'return_6m_usd', 'return_12m_usd',
            'return_ytd_usd', 'real_cum_return_usd',
        ] -%}
        china_basket.{{ measure }} - us_ai_basket.{{ measure }} as {{ measure }},
        {% endfor -%}
        china_basket.cpi_month_known,
        china_basket.cpi_index_known,
        array_to_string(
            list_sort(list_distinct(string_split(china_basket.data_source || ',' || us_ai_basket.data_source, ','))),
            ','
        ) as data_source,
        array_to_string(
            list_sort(list_distinct(string_split(china_basket.load_id || ',' || us_ai_basket.load_id, ','))),
            ','
        ) as load_id,
    from china_basket
    inner join us_ai_basket
        on china_basket.trade_date = us_ai_basket.trade_date
),

every_series as (
    select * from with_execution_gap
    union all by name
    select * from spread_series
),

-- the latest close of the day among the universe's markets: when a basket or the spread is complete
last_closes as (
    select
        session_date,
        max(close_at) as close_at,
    from market_sessions
    where exchange in (select exchange from securities)
    group by session_date
),

-- known_at: a security's row at the close of its own market and of its benchmark's, a basket's or the
-- spread's at the day's last close
with_known_at as (
    select
        every_series.*,
        coalesce(
            greatest(own_session.close_at, benchmark_session.close_at),
            last_closes.close_at
        ) as known_at,
    from every_series
    left join securities as benchmark
        on every_series.benchmark_ticker = benchmark.ticker
    -- equi-joins only (a key is null but for a security): with the series_type test as a join condition,
    -- DuckDB fell back to a nested-loop join of every row with every session (minutes at 500 x 20)
    left join market_sessions as own_session
        on case when every_series.series_type = 'security' then every_series.exchange end = own_session.exchange
        and every_series.trade_date = own_session.session_date
    left join market_sessions as benchmark_session
        on case when every_series.series_type = 'security' then benchmark.exchange end = benchmark_session.exchange
        and every_series.trade_date = benchmark_session.session_date
    left join last_closes
        on every_series.trade_date = last_closes.session_date
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
        case when series_type = 'security' then level_local end as adj_close,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        case when series_type = 'security' then level_usd end as adj_close_usd,
        level_usd as index_level_usd,
        daily_return_usd,
        member_count,
        base_trade_date,
        cum_return_local,
        cum_return_usd,
        return_1m_usd,
        return_3m_usd,
        return_6m_usd,
        return_12m_usd,
        return_ytd_usd,
        volatility_63d_ann,
        volatility_252d_ann,
        drawdown_usd,
        benchmark_ticker,
        beta_252d,
        benchmark_cum_return_usd,
        excess_cum_return_usd,
        benchmark_return_12m_usd,
        excess_return_12m_usd,
        cpi_month_known,
        cpi_index_known,
        real_cum_return_usd,
        known_fiscal_period_end,
        known_execution_gap,
        known_reward_gap,
        known_at,
        data_source,
        load_id,
        {{ inputs_loaded_through(relative_performance_inputs()) }} as inputs_loaded_through,
    from with_known_at
)

select * from final
