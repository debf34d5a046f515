-- The market reward of every first-reported quarter (int_quarters_first_reported):
-- the stock's USD total return over the fiscal quarter and the trailing 12
-- months, and its excess over the us_ai_leader basket and over its benchmark
-- on the same dates, from the last level on or before each date. One row per
-- company and fiscal_period_end. Formula: docs block
-- formula_execution_gap_market_reward (marts/execution_gap/_execution_gap__docs.md).
-- Incremental (boundary execution_gap, macros/incremental_boundaries.sql):
-- rows whose fiscal period ends on or after the earliest price or FX date or
-- fiscal period end loaded since the last build are recomputed (every look-up
-- is on or before fiscal_period_end); a day of prices after the last period
-- end recomputes nothing.

{{ config(
    materialized='incremental',
    unique_key=['ticker', 'fiscal_period_end'],
) }}

{%- set recompute_from = date_literal(execution_gap_start()) %}

with quarters as (
    select
        ticker,
        fiscal_period_end,
        benchmark_ticker,
        quarter_start_date,
        year_start_date,
        'basket:us_ai_leader' as us_ai_basket_id,
    from {{ ref('int_quarters_first_reported') }}
    where fiscal_period_end >= {{ recompute_from }}
),

-- read twice below for three columns: not materialized, so each scan reads only those
performance as not materialized (
    select * from {{ ref('int_performance_series') }}
),

{#- every (series, date) the reward columns need: the stock, the us_ai_leader basket and the
    benchmark, each at the period end, the quarter start and the year start -#}
{%- set level_series = [('ticker', 'stock'), ('us_ai_basket_id', 'basket'), ('benchmark_ticker', 'benchmark')] %}
{%- set level_dates = [('fiscal_period_end', 'end'), ('quarter_start_date', 'quarter_start'), ('year_start_date', 'year_start')] %}

level_lookups as (
    select distinct series_id, lookup_date
    from (
        {%- for series_column, _ in level_series %}
        {%- for date_column, _ in level_dates %}
        select {{ series_column }} as series_id, {{ date_column }} as lookup_date from quarters
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
    )
    where series_id is not null
),

first_lookup as (
    select min(lookup_date) as first_lookup_date from level_lookups
),

-- the levels the look-ups can reach: from the earliest look-up date on, plus each series' last level
-- before it (for a look-up with no level inside the window), so the ASOF join sorts what it needs
levels as (
    select
        series_id,
        trade_date as level_date,
        level_usd,
    from performance
    where level_usd is not null
        and trade_date >= (select first_lookup_date from first_lookup)
    union all
    select
        series_id,
        max(trade_date) as level_date,
        arg_max(level_usd, trade_date) as level_usd,
    from performance
    where level_usd is not null
        and trade_date < (select first_lookup_date from first_lookup)
    group by series_id
),

-- the last level on or before each date: one ASOF join for all nine look-ups
looked_up_levels as (
    select
        level_lookups.series_id,
        level_lookups.lookup_date,
        levels.level_usd,
    from level_lookups
    asof left join levels
        on level_lookups.series_id = levels.series_id
        and level_lookups.lookup_date >= levels.level_date
),

with_levels as (
    select
        quarters.*,
        {%- for _, alias in level_series %}
        {%- for _, suffix in level_dates %}
        {{ alias }}_{{ suffix }}.level_usd as {{ alias }}_level_{{ suffix }},
        {%- endfor %}
        {%- endfor %}
    from quarters
    {%- for series_column, alias in level_series %}
    {%- for date_column, suffix in level_dates %}
    left join looked_up_levels as {{ alias }}_{{ suffix }}
        on quarters.{{ series_column }} = {{ alias }}_{{ suffix }}.series_id
        and quarters.{{ date_column }} = {{ alias }}_{{ suffix }}.lookup_date
    {%- endfor %}
    {%- endfor %}
),

rewards as (
    select
        ticker,
        fiscal_period_end,
        100 * (stock_level_end / stock_level_quarter_start - 1) as stock_return_quarter_pct,
        100 * (stock_level_end / stock_level_year_start - 1) as stock_return_12m_pct,
        100 * (stock_level_end / stock_level_quarter_start - basket_level_end / basket_level_quarter_start)
            as stock_return_quarter_vs_us_ai_leader_pp,
        100 * (stock_level_end / stock_level_year_start - basket_level_end / basket_level_year_start)
            as stock_return_12m_vs_us_ai_leader_pp,
        100 * (stock_level_end / stock_level_quarter_start - benchmark_level_end / benchmark_level_quarter_start)
            as stock_return_quarter_vs_benchmark_pp,
        100 * (stock_level_end / stock_level_year_start - benchmark_level_end / benchmark_level_year_start)
            as stock_return_12m_vs_benchmark_pp,
    from with_levels
),

final as (
    select
        *,
        {{ inputs_loaded_through(execution_gap_inputs()) }} as inputs_loaded_through,
    from rewards
)

select * from final
