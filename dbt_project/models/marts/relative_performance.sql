-- USD performance of every security (companies and benchmarks), of the two
-- equal-weight daily-rebalanced baskets and of the basket spread: one row per
-- series_id and trade_date. Returns are fractions (0.25 = +25 %).
--   cumulative:  level / level on the base trade date - 1, where the base
--                trade date is the series' last date on or before var
--                performance_base_date (default: none -> its first date)
--   rolling:     level / level on the last date on or before the same
--                calendar date 1, 3, 6, 12 months earlier - 1; YTD against
--                the last date of the previous calendar year
--   volatility:  sample stddev of the last 63 / 252 daily USD returns * sqrt(252),
--                null until the window is full
--   beta:        OLS slope of the daily USD return on the benchmark's daily
--                USD return on the same dates, over the last 252 rows, null
--                with fewer than var beta_min_observations (200) pairs
--   drawdown:    level / running maximum level - 1
--   real:        (1 + cum_return_usd) * CPI known on the base date / CPI known
--                on trade_date - 1, CPI-U headline NSA by release date
--   known_*:     the execution gap of the latest fiscal quarter whose
--                cross-section was complete on trade_date (ASOF on
--                zscores_known_from_date): no look-ahead.
-- Spread rows: each return measure of basket:china_tech minus that of
-- basket:us_ai_leader on the dates both have a value.
-- Incremental (boundary relative_performance, macros/incremental_boundaries.sql):
-- rows dated on or after the earliest date touched by a price,
-- FX, CPI or fundamental row loaded since the last build are recomputed, from
-- a context of the preceding var incremental_context_days (450) calendar
-- days (enough for 252-row and 12-month windows); base levels and the running
-- peak come from the whole history. Windowed statistics use exact
-- fixed-point sums (macros/incremental.sql), so incremental builds equal a
-- full rebuild exactly.

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['series_id', 'trade_date'],
    on_schema_change='append_new_columns',
) }}


{%- set base_date = var('performance_base_date', none) %}
{%- set min_beta_days = var('beta_min_observations', 200) %}
{#- Window lengths are vars so unit tests can shrink them; the column names give the defaults. #}
{%- set short_days = var('volatility_short_days', 63) %}
{%- set long_days = var('volatility_long_days', 252) %}
{%- set beta_days = var('beta_days', 252) %}
{%- set year_days = var('annualization_days', 252) %}

{%- set start = relative_performance_start() %}
{%- set recompute_from = date_literal(start) %}
{%- set context_from = daily_series_context_from(start) %}

-- read by several CTEs below, each taking a few columns: not materialized, so each scan reads only those
with all_series as not materialized (
    select * from {{ ref('int_performance_series') }}
),

-- the columns the measures need; the descriptive ones join back at the end (narrow rows keep the
-- windows and ASOF joins within the memory limit at millions of rows)
series as (
    select
        series_id,
        series_type,
        ticker,
        trade_date,
        level_usd,
        level_local,
        daily_return_usd,
        benchmark_ticker,
    from all_series
    where trade_date >= {{ context_from }}
),

descriptive as (
    select
        series_id,
        trade_date,
        group_name,
        exchange,
        currency,
        daily_return_local,
        daily_price_return_local,
        usd_per_unit,
        member_count,
        data_source,
        load_id,
    from all_series
    where trade_date >= {{ recompute_from }}
),

cpi_monthly as (
    select * from {{ ref('int_cpi_monthly') }}
),

execution_gap as (
    select * from {{ ref('execution_gap') }}
),

levels as (
    select
        series_id,
        trade_date as level_date,
        level_usd,
    from series
    where level_usd is not null
),

benchmark_series as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        level_usd as benchmark_level_usd,
        daily_return_usd as benchmark_daily_return_usd,
    from series
    where series_type = 'security' and level_usd is not null
),

cpi_known as (
    select
        release_date as cpi_release_date,
        month_date as cpi_month_known,
        headline_nsa_index as cpi_index_known,
    from cpi_monthly
    where headline_nsa_index is not null and release_date is not null
),

fundamentals_known as (
    select
        ticker,
        zscores_known_from_date,
        fiscal_period_end as known_fiscal_period_end,
        execution_gap as known_execution_gap,
        reward_gap as known_reward_gap,
    from execution_gap
    where zscores_known_from_date is not null
),

series_history as (
    select
        series_id,
        coalesce(
            {% if base_date -%}
            max(trade_date) filter (where level_usd is not null and trade_date <= date '{{ base_date }}'),
            {% endif -%}
            min(trade_date) filter (where level_usd is not null)
        ) as base_trade_date,
        max(level_usd) filter (where trade_date < {{ context_from }}) as peak_before_context,
    from all_series
    group by series_id
),

series_bases as (
    select
        series_history.series_id,
        series_history.base_trade_date,
        series_history.peak_before_context,
        base_row.level_usd as base_level_usd,
        base_row.level_local as base_level_local,
        base_row.benchmark_ticker,
    from series_history
    left join all_series as base_row
        on series_history.series_id = base_row.series_id
        and series_history.base_trade_date = base_row.trade_date
),

benchmark_history as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        level_usd as benchmark_level_usd,
    from all_series
    where series_type = 'security'
        and level_usd is not null
        and series_id in (select distinct benchmark_ticker from series_bases)
),

series_base_context as (
    select
        series_bases.*,
        base_benchmark.benchmark_level_usd as benchmark_level_usd_base,
        base_cpi.cpi_index_known as cpi_index_known_base,
    from series_bases
    asof left join benchmark_history as base_benchmark
        on series_bases.benchmark_ticker = base_benchmark.benchmark_ticker
        and series_bases.base_trade_date >= base_benchmark.benchmark_trade_date
    asof left join cpi_known as base_cpi
        on series_bases.base_trade_date >= base_cpi.cpi_release_date
),

with_base_date as (
    select
        series.*,
        series_base_context.base_trade_date,
        series_base_context.peak_before_context,
        series_base_context.base_level_usd,
        series_base_context.base_level_local,
        series_base_context.benchmark_level_usd_base,
        series_base_context.cpi_index_known_base,
        cast(trade_date - interval 1 month as date) as date_1m_ago,
        cast(trade_date - interval 3 month as date) as date_3m_ago,
        cast(trade_date - interval 6 month as date) as date_6m_ago,
        cast(trade_date - interval 12 month as date) as date_12m_ago,
        make_date(year(trade_date) - 1, 12, 31) as previous_year_end_date,
    from series
    left join series_base_context
        on series.series_id = series_base_context.series_id
),

-- the same-day benchmark return, for beta (the windows need it on every context row)
with_benchmark_return as (
    select
        with_base_date.*,
        same_day_benchmark.benchmark_daily_return_usd,
    from with_base_date
    left join benchmark_series as same_day_benchmark
        on with_base_date.benchmark_ticker = same_day_benchmark.benchmark_ticker
        and with_base_date.trade_date = same_day_benchmark.benchmark_trade_date
),

with_fixed_points as (
    select
        *,
        {{ fixed_point('daily_return_usd') }} as return_fixed_point,
        {{ fixed_point('daily_return_usd ^ 2') }} as return_squared_fixed_point,
        case when benchmark_daily_return_usd is not null
            then {{ fixed_point('daily_return_usd') }}
        end as paired_return_fixed_point,
        case when daily_return_usd is not null
            then {{ fixed_point('benchmark_daily_return_usd') }}
        end as paired_benchmark_fixed_point,
        {{ fixed_point('benchmark_daily_return_usd ^ 2') }} as paired_benchmark_squared_fixed_point,
        {{ fixed_point('benchmark_daily_return_usd * daily_return_usd') }} as paired_product_fixed_point,
    from with_benchmark_return
),

window_sums as (
    select
        *,
        count(return_fixed_point) over short_window as short_n,
        sum(return_fixed_point) over short_window as short_sum,
        sum(return_squared_fixed_point) over short_window as short_sum_squares,
        count(return_fixed_point) over long_window as long_n,
        sum(return_fixed_point) over long_window as long_sum,
        sum(return_squared_fixed_point) over long_window as long_sum_squares,
        count(paired_return_fixed_point) over beta_window as beta_n,
        sum(paired_return_fixed_point) over beta_window as beta_sum_y,
        sum(paired_benchmark_fixed_point) over beta_window as beta_sum_x,
        sum(paired_benchmark_squared_fixed_point) over beta_window as beta_sum_xx,
        sum(paired_product_fixed_point) over beta_window as beta_sum_xy,
        max(level_usd) over (
            partition by series_id
            order by trade_date
            rows between unbounded preceding and current row
        ) as peak_in_context,
    from with_fixed_points
    window
        short_window as (
            partition by series_id order by trade_date rows between {{ short_days - 1 }} preceding and current row
        ),
        long_window as (
            partition by series_id order by trade_date rows between {{ long_days - 1 }} preceding and current row
        ),
        beta_window as (
            partition by series_id order by trade_date rows between {{ beta_days - 1 }} preceding and current row
        )
),

-- the rows this build writes, plus the benchmarks' context rows (their 12-month return is looked up
-- as of each written row's date); the point-in-time look-ups below run on these rows only
written_rows as (
    select * from window_sums
    where trade_date >= {{ recompute_from }}
        or series_id in (select benchmark_ticker from series_bases)
),

{#- (look-up alias, the date column on or before which it looks, the output column) -#}
{%- set past_levels = [
    ('level_1m', 'date_1m_ago', 'level_usd_1m_ago'),
    ('level_3m', 'date_3m_ago', 'level_usd_3m_ago'),
    ('level_6m', 'date_6m_ago', 'level_usd_6m_ago'),
    ('level_12m', 'date_12m_ago', 'level_usd_12m_ago'),
    ('level_ytd', 'previous_year_end_date', 'level_usd_previous_year_end'),
] %}

with_past_levels as (
    select
        written_rows.*,
        {%- for alias, _, column in past_levels %}
        {{ alias }}.level_usd as {{ column }},
        {%- endfor %}
    from written_rows
    {%- for alias, date_column, _ in past_levels %}
    asof left join levels as {{ alias }}
        on written_rows.series_id = {{ alias }}.series_id
        and written_rows.{{ date_column }} >= {{ alias }}.level_date
    {%- endfor %}
),

with_benchmark as (
    select
        with_past_levels.*,
        benchmark_level.benchmark_level_usd,
    from with_past_levels
    asof left join benchmark_series as benchmark_level
        on with_past_levels.benchmark_ticker = benchmark_level.benchmark_ticker
        and with_past_levels.trade_date >= benchmark_level.benchmark_trade_date
),

with_cpi as (
    select
        with_benchmark.*,
        cpi_known.cpi_month_known,
        cpi_known.cpi_index_known,
    from with_benchmark
    asof left join cpi_known
        on with_benchmark.trade_date >= cpi_known.cpi_release_date
),

measures as (
    select
        series_id,
        series_type,
        ticker,
        trade_date,
        level_usd,
        level_local,
        daily_return_usd,
        benchmark_ticker,
        base_trade_date,
        cpi_month_known,
        cpi_index_known,
        cpi_index_known_base,
        case when trade_date >= base_trade_date then level_usd / base_level_usd - 1 end as cum_return_usd,
        case when trade_date >= base_trade_date then level_local / base_level_local - 1 end as cum_return_local,
        level_usd / level_usd_1m_ago - 1 as return_1m_usd,
        level_usd / level_usd_3m_ago - 1 as return_3m_usd,
        level_usd / level_usd_6m_ago - 1 as return_6m_usd,
        level_usd / level_usd_12m_ago - 1 as return_12m_usd,
        level_usd / level_usd_previous_year_end - 1 as return_ytd_usd,
        case when short_n = {{ short_days }} then
            {{ stddev_from_sums('short_n', from_fixed_point('short_sum'), from_fixed_point('short_sum_squares')) }}
                * sqrt({{ year_days }})
        end as volatility_63d_ann,
        case when long_n = {{ long_days }} then
            {{ stddev_from_sums('long_n', from_fixed_point('long_sum'), from_fixed_point('long_sum_squares')) }}
                * sqrt({{ year_days }})
        end as volatility_252d_ann,
        case when beta_n >= {{ min_beta_days }} then
            (
                cast(beta_n as double) * {{ from_fixed_point('beta_sum_xy') }}
                - {{ from_fixed_point('beta_sum_x') }} * {{ from_fixed_point('beta_sum_y') }}
            ) / nullif(
                cast(beta_n as double) * {{ from_fixed_point('beta_sum_xx') }} - {{ from_fixed_point('beta_sum_x') }} ^ 2,
                0
            )
        end as beta_252d,
        case when trade_date >= base_trade_date then
            benchmark_level_usd / benchmark_level_usd_base - 1
        end as benchmark_cum_return_usd,
        level_usd / greatest(peak_before_context, peak_in_context) - 1 as drawdown_usd,
    from with_cpi
),

benchmark_rolling as (
    select
        series_id as benchmark_ticker,
        trade_date as benchmark_trade_date,
        return_12m_usd as benchmark_return_12m_usd,
    from measures
    where series_type = 'security'
),

with_excess as (
    select
        measures.*,
        cum_return_usd - benchmark_cum_return_usd as excess_cum_return_usd,
        benchmark_rolling.benchmark_return_12m_usd,
        return_12m_usd - benchmark_rolling.benchmark_return_12m_usd as excess_return_12m_usd,
        (1 + cum_return_usd) * cpi_index_known_base / cpi_index_known - 1 as real_cum_return_usd,
    from measures
    asof left join benchmark_rolling
        on measures.benchmark_ticker = benchmark_rolling.benchmark_ticker
        and measures.trade_date >= benchmark_rolling.benchmark_trade_date
),

with_fundamentals as (
    select
        with_excess.*,
        fundamentals_known.known_fiscal_period_end,
        fundamentals_known.known_execution_gap,
        fundamentals_known.known_reward_gap,
    from with_excess
    asof left join fundamentals_known
        on with_excess.ticker = fundamentals_known.ticker
        and with_excess.trade_date >= fundamentals_known.zscores_known_from_date
),

china_basket as (
    select with_excess.*, descriptive.data_source, descriptive.load_id
    from with_excess
    inner join descriptive
        on with_excess.series_id = descriptive.series_id and with_excess.trade_date = descriptive.trade_date
    where with_excess.series_id = 'basket:china_tech'
),

us_ai_basket as (
    select with_excess.*, descriptive.data_source, descriptive.load_id
    from with_excess
    inner join descriptive
        on with_excess.series_id = descriptive.series_id and with_excess.trade_date = descriptive.trade_date
    where with_excess.series_id = 'basket:us_ai_leader'
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

series_with_descriptions as (
    select
        with_fundamentals.*,
        descriptive.* exclude (series_id, trade_date),
    from with_fundamentals
    inner join descriptive
        on with_fundamentals.series_id = descriptive.series_id
        and with_fundamentals.trade_date = descriptive.trade_date
),

every_series as (
    select * from series_with_descriptions
    union all by name
    select * from spread_series
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
        data_source,
        load_id,
        {{ inputs_loaded_through(relative_performance_inputs()) }} as inputs_loaded_through,
    from every_series
    where trade_date >= {{ recompute_from }}
)

select * from final
