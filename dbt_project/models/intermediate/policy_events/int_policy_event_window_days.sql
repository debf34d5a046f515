-- The relative trading days of every event and listing with a day 0, from
-- the start of the estimation window to the end of the last CAR window, with
-- the listing's and its benchmark's daily_return_local on that trade_date:
-- one row per event, listing and relative day that has traded. Docs block
-- formula_int_policy_event_window_days_relative_day (_policy_events__docs.md).
-- Relative days are a join on numbers: the window of day 0 = n is the
-- listing's rows numbered n - 250 .. n + 5 by default (an equi-join on
-- generated numbers, exact however long a trading halt), never a window
-- function over the history. A view: a filter on event_id (policy_event_impact
-- asks for the events it recomputes) reaches the int_policy_event_days scan,
-- and the join reads only the return rows of those events' windows.

{%- set estimation_start = event_study_estimation_window()[0] %}
{%- set car_start = event_study_car_windows() | map(attribute='start') | min %}
{%- set car_end = event_study_car_windows() | map(attribute='end') | max %}

with event_days as (
    select * from {{ ref('int_policy_event_days') }}
),

-- not materialized: each use scans only its columns and rows
daily_returns as not materialized (
    select * from {{ ref('int_daily_returns') }}
),

benchmark_returns as (
    select
        ticker as benchmark_ticker,
        trade_date,
        daily_return_local as benchmark_return_local,
        data_source as benchmark_data_source,
        load_id as benchmark_load_id,
    from daily_returns
    where ticker in (select benchmark_ticker from event_days)
),

-- the listing's trading-day numbers from the start of the estimation window
-- to the end of the last CAR window around day 0
day_numbers as (
    select
        event_days.event_id,
        event_days.ticker,
        event_days.benchmark_ticker,
        relative_days.relative_day,
        event_days.event_trading_day_number + relative_days.relative_day as trading_day_number,
    from event_days
    cross join range({{ estimation_start }}, {{ car_end + 1 }}) as relative_days (relative_day)
    where event_days.event_trading_day_number is not null
),

-- those days of the listing, with its return and its benchmark's return on the same
-- trade_date (null when the benchmark has no row that day)
window_days as (
    select
        day_numbers.event_id,
        day_numbers.ticker,
        day_numbers.relative_day,
        security_returns.trade_date,
        security_returns.daily_return_local as security_return_local,
        benchmark_returns.benchmark_return_local,
        security_returns.data_source,
        benchmark_returns.benchmark_data_source,
        -- load ids are lineage of the CAR windows only: keep them off the estimation days
        case
            when day_numbers.relative_day >= {{ car_start }} then security_returns.load_id
        end as load_id,
        case
            when day_numbers.relative_day >= {{ car_start }} then benchmark_returns.benchmark_load_id
        end as benchmark_load_id,
    from day_numbers
    inner join daily_returns as security_returns
        on day_numbers.ticker = security_returns.ticker
        and day_numbers.trading_day_number = security_returns.trading_day_number
    left join benchmark_returns
        on day_numbers.benchmark_ticker = benchmark_returns.benchmark_ticker
        and security_returns.trade_date = benchmark_returns.trade_date
),

final as (
    select * from window_days
)

select * from final
