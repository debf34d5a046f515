-- Market-adjusted cumulative abnormal returns (CAR) around policy events, one
-- row per event and non-benchmark security.
--   abnormal return (day t) = daily_return_local - benchmark daily_return_local on the same date
--   CAR[a, b] = 100 * sum of abnormal returns over the listing's trading days
--               event_trade_date + a ... event_trade_date + b
-- A CAR is null unless every day of its window has an abnormal return.
-- Only events dated within the price history (first to last trade_date of
-- any listing) are kept.

with policy_events as (
    select * from {{ ref('stg_raw__policy_events') }}
),

daily_returns as (
    select * from {{ ref('int_daily_returns') }}
),

price_history as (
    select
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date,
    from daily_returns
),

events_in_history as (
    select policy_events.*
    from policy_events
    cross join price_history
    where policy_events.event_date between price_history.first_trade_date and price_history.last_trade_date
),

listings as (
    select
        ticker,
        any_value(group_name) as group_name,
        any_value(benchmark_ticker) as benchmark_ticker,
        min(trade_date) as first_trade_date,
    from daily_returns
    where group_name != 'benchmark'
    group by ticker
),

benchmark_returns as (
    select
        ticker as benchmark_ticker,
        trade_date,
        daily_return_local as benchmark_return_local,
    from daily_returns
),

abnormal_returns as (
    select
        listing_returns.ticker,
        listing_returns.trade_date,
        listing_returns.trading_day_number,
        listing_returns.daily_return_local - benchmark_returns.benchmark_return_local as abnormal_return_local,
        listing_returns.data_source,
        listing_returns.load_id,
    from daily_returns as listing_returns
    left join benchmark_returns
        on listing_returns.benchmark_ticker = benchmark_returns.benchmark_ticker
        and listing_returns.trade_date = benchmark_returns.trade_date
    where listing_returns.group_name != 'benchmark'
),

event_listings as (
    select
        events_in_history.event_id,
        events_in_history.event_date,
        events_in_history.category,
        events_in_history.region,
        events_in_history.title,
        events_in_history.data_source as event_source,
        listings.ticker,
        listings.group_name,
        listings.benchmark_ticker,
        listings.first_trade_date,
    from events_in_history
    cross join listings
),

-- first trading day of the listing on or after the event date; none when the
-- listing only started trading after the event
event_days as (
    select
        event_listings.* exclude (first_trade_date),
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then abnormal_returns.trade_date
        end as event_trade_date,
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then abnormal_returns.trading_day_number
        end as event_trading_day_number,
        abnormal_returns.data_source,
        abnormal_returns.load_id,
    from event_listings
    asof left join abnormal_returns
        on event_listings.ticker = abnormal_returns.ticker
        and abnormal_returns.trade_date >= event_listings.event_date
),

window_returns as (
    select
        event_days.event_id,
        event_days.ticker,
        abnormal_returns.trading_day_number - event_days.event_trading_day_number as relative_day,
        abnormal_returns.abnormal_return_local,
    from event_days
    inner join abnormal_returns
        on event_days.ticker = abnormal_returns.ticker
        and abnormal_returns.trading_day_number
            between event_days.event_trading_day_number - 5 and event_days.event_trading_day_number + 5
),

cumulative_abnormal_returns as (
    select
        event_id,
        ticker,
        {% for window_start, window_end, window_name in [(-1, 1, 'm1_p1'), (0, 5, '0_p5'), (-5, 5, 'm5_p5')] -%}
        case
            when count(abnormal_return_local)
                    filter (where relative_day between {{ window_start }} and {{ window_end }})
                = {{ window_end - window_start + 1 }}
                then 100 * sum(abnormal_return_local order by relative_day)
                    filter (where relative_day between {{ window_start }} and {{ window_end }})
        end as car_{{ window_name }}_pct,
        {% endfor %}
    from window_returns
    group by event_id, ticker
),

joined as (
    select
        event_days.event_id,
        event_days.event_date,
        event_days.category,
        event_days.region,
        event_days.title,
        event_days.ticker,
        event_days.group_name,
        event_days.benchmark_ticker,
        event_days.event_trade_date,
        cumulative_abnormal_returns.car_m1_p1_pct,
        cumulative_abnormal_returns.car_0_p5_pct,
        cumulative_abnormal_returns.car_m5_p5_pct,
        case when event_days.event_trade_date is not null then event_days.data_source end as data_source,
        case when event_days.event_trade_date is not null then event_days.load_id end as load_id,
        event_days.event_source,
    from event_days
    left join cumulative_abnormal_returns
        on event_days.event_id = cumulative_abnormal_returns.event_id
        and event_days.ticker = cumulative_abnormal_returns.ticker
),

final as (
    select * from joined
)

select * from final
