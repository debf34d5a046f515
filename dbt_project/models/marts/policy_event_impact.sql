-- Market-model event study: cumulative abnormal returns (CAR) of every
-- non-benchmark security around each policy event dated within the price
-- history. One row per event and security.
--
--   day 0          = the listing's first trading day on or after event_date
--                    (none if the listing started trading after event_date)
--   relative day k = the listing's k-th trading day after (k < 0: before) day 0
--   estimation     = days in var event_study_estimation_window (default -250 .. -30)
--                    on which both the security's and its benchmark's
--                    daily_return_local exist; at least
--                    var event_study_min_estimation_days (default 120) of them
--   beta           = sum((r_m - avg r_m) * (r_i - avg r_i)) / sum((r_m - avg r_m)^2)
--                    (= covar_samp / var_samp), alpha = avg r_i - beta * avg r_m
--   residual_sd    = sqrt(sum(estimation residual^2) / (n - 2))
--   AR (day t)     = r_i,t - (alpha + beta * r_m,t)
--   CAR[a, b]      = 100 * sum of AR over relative days a .. b, null unless every
--                    day of the window has an AR
--   t-stat         = CAR / its standard error, 100 * residual_sd * sqrt(L + L^2 / n
--                    + (sum r_m over the window - L * avg r_m)^2 / sum((r_m - avg r_m)^2)),
--                    L = b - a + 1 (prediction errors of the fitted model)
--
-- Every floating-point sum is exact and order-independent (macros/incremental.sql:
-- fixed-point HUGEINT sums, two passes for the moments), so rebuilds are
-- bit-identical without ordered aggregates, which cost memory per group.

{%- set estimation_window = event_study_estimation_window() %}
{%- set estimation_start = estimation_window[0] %}
{%- set estimation_end = estimation_window[1] %}
{%- set min_estimation_days = event_study_min_estimation_days() %}
{%- set car_windows = event_study_car_windows() %}
{%- set car_start = car_windows | map(attribute='start') | min %}
{%- set car_end = car_windows | map(attribute='end') | max %}

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
        data_source,
        load_id,
    from daily_returns
),

-- each listing's trading days with its return and its benchmark's return on
-- the same trade_date (null when the benchmark has no row that day)
listing_returns as (
    select
        security_returns.ticker,
        security_returns.trade_date,
        security_returns.trading_day_number,
        security_returns.daily_return_local as security_return_local,
        benchmark_returns.benchmark_return_local,
        security_returns.data_source,
        security_returns.load_id,
        benchmark_returns.data_source as benchmark_data_source,
        benchmark_returns.load_id as benchmark_load_id,
    from daily_returns as security_returns
    left join benchmark_returns
        on security_returns.benchmark_ticker = benchmark_returns.benchmark_ticker
        and security_returns.trade_date = benchmark_returns.trade_date
    where security_returns.group_name != 'benchmark'
        -- only the span any event window can reach (a trading day is at least a calendar day, so
        -- 2 x the estimation start in calendar days before the first event is ample), so the cost
        -- follows the events, not the length of the price history
        and security_returns.trade_date between
            (select min(event_date) from events_in_history) - to_days({{ -2 * estimation_start + 10 }})
            and (select max(event_date) from events_in_history) + to_days({{ 4 * car_end + 30 }})
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

-- day 0: first trading day of the listing on or after the event date; none
-- when the listing only started trading after the event
event_days as (
    select
        event_listings.* exclude (first_trade_date),
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then listing_returns.trade_date
        end as event_trade_date,
        case
            when event_listings.event_date >= event_listings.first_trade_date
                then listing_returns.trading_day_number
        end as event_trading_day_number,
    from event_listings
    asof left join listing_returns
        on event_listings.ticker = listing_returns.ticker
        and listing_returns.trade_date >= event_listings.event_date
),

-- the listing's trading days from the start of the estimation window to the
-- end of the last CAR window, numbered relative to day 0
event_study_days as (
    select
        event_days.event_id,
        event_days.ticker,
        listing_returns.trading_day_number - event_days.event_trading_day_number as relative_day,
        listing_returns.trade_date,
        listing_returns.security_return_local,
        listing_returns.benchmark_return_local,
        listing_returns.data_source,
        listing_returns.benchmark_data_source,
        -- load ids are lineage of the CAR windows only: keep them off the estimation days
        case
            when listing_returns.trading_day_number - event_days.event_trading_day_number >= {{ car_start }}
                then listing_returns.load_id
        end as load_id,
        case
            when listing_returns.trading_day_number - event_days.event_trading_day_number >= {{ car_start }}
                then listing_returns.benchmark_load_id
        end as benchmark_load_id,
    from event_days
    inner join listing_returns
        on event_days.ticker = listing_returns.ticker
        and listing_returns.trading_day_number between
            event_days.event_trading_day_number + {{ estimation_start }}
            and event_days.event_trading_day_number + {{ car_end }}
),

estimation_days as (
    select *
    from event_study_days
    where
        relative_day between {{ estimation_start }} and {{ estimation_end }}
        and security_return_local is not null
        and benchmark_return_local is not null
),

estimation_means as (
    select
        event_id,
        ticker,
        count(*) as estimation_days,
        min(trade_date) as estimation_start_date,
        max(trade_date) as estimation_end_date,
        {{ exact_sum('security_return_local') }} / count(*) as mean_security_return,
        {{ exact_sum('benchmark_return_local') }} / count(*) as mean_benchmark_return,
    from estimation_days
    group by event_id, ticker
),

-- OLS slope from centred sums (second pass over the estimation days)
estimation_moments as (
    select
        estimation_days.event_id,
        estimation_days.ticker,
        {{ exact_sum(
            '(estimation_days.benchmark_return_local - estimation_means.mean_benchmark_return)'
            ~ ' * (estimation_days.security_return_local - estimation_means.mean_security_return)'
        ) }} as centred_cross_products,
        {{ exact_sum('(estimation_days.benchmark_return_local - estimation_means.mean_benchmark_return) ** 2') }}
            as centred_benchmark_squares,
    from estimation_days
    inner join estimation_means
        on estimation_days.event_id = estimation_means.event_id
        and estimation_days.ticker = estimation_means.ticker
    group by estimation_days.event_id, estimation_days.ticker
),

market_models as (
    select
        estimation_means.event_id,
        estimation_means.ticker,
        estimation_means.estimation_days,
        estimation_means.estimation_start_date,
        estimation_means.estimation_end_date,
        case
            when estimation_means.estimation_days >= {{ min_estimation_days }}
                then estimation_moments.centred_cross_products
                    / nullif(estimation_moments.centred_benchmark_squares, 0)
        end as beta,
        estimation_means.mean_security_return - beta * estimation_means.mean_benchmark_return as alpha,
        estimation_means.mean_benchmark_return,
        estimation_moments.centred_benchmark_squares,
    from estimation_means
    inner join estimation_moments
        on estimation_means.event_id = estimation_moments.event_id
        and estimation_means.ticker = estimation_moments.ticker
),

-- third pass: residual standard deviation of the fitted market model
estimation_residuals as (
    select
        estimation_days.event_id,
        estimation_days.ticker,
        sqrt(
            {{ exact_sum(
                '(estimation_days.security_return_local'
                ~ ' - (market_models.alpha + market_models.beta * estimation_days.benchmark_return_local)) ** 2'
            ) }} / (count(*) - 2)
        ) as residual_sd,
    from estimation_days
    inner join market_models
        on estimation_days.event_id = market_models.event_id
        and estimation_days.ticker = market_models.ticker
    where market_models.beta is not null
    group by estimation_days.event_id, estimation_days.ticker
),

abnormal_returns as (
    select
        event_study_days.event_id,
        event_study_days.ticker,
        event_study_days.relative_day,
        event_study_days.security_return_local
        - (market_models.alpha + market_models.beta * event_study_days.benchmark_return_local)
            as abnormal_return,
        event_study_days.benchmark_return_local,
    from event_study_days
    inner join market_models
        on event_study_days.event_id = market_models.event_id
        and event_study_days.ticker = market_models.ticker
    where event_study_days.relative_day between {{ car_start }} and {{ car_end }}
),

cumulative_abnormal_returns as (
    select
        event_id,
        ticker,
        {% for window in car_windows -%}
        case
            when count(abnormal_return)
                    filter (where relative_day between {{ window.start }} and {{ window.end }})
                = {{ window.end - window.start + 1 }}
                then 100 * {{ from_fixed_point(
                    'sum(' ~ fixed_point('abnormal_return') ~ ') filter (where relative_day between '
                    ~ window.start ~ ' and ' ~ window.end ~ ')'
                ) }}
        end as car_{{ window.name }}_pct,
        {{ from_fixed_point(
            'sum(' ~ fixed_point('benchmark_return_local') ~ ') filter (where relative_day between '
            ~ window.start ~ ' and ' ~ window.end ~ ')'
        ) }} as benchmark_return_sum_{{ window.name }},
        {% endfor %}
    from abnormal_returns
    group by event_id, ticker
),

-- standard error of each CAR, in percent: the CAR is a sum of L = b - a + 1
-- out-of-sample prediction errors of the market model, whose variance is
--   residual_sd^2 * (L + L^2 / n + (sum r_m - L * avg r_m)^2 / sum((r_m - avg r_m)^2))
-- (the sums of r_m over the CAR window and, for avg and centred squares, the
-- estimation days; n = estimation_days)
car_standard_errors as (
    select
        cumulative_abnormal_returns.event_id,
        cumulative_abnormal_returns.ticker,
        {% for window in car_windows -%}
        {%- set window_days = window.end - window.start + 1 -%}
        100 * estimation_residuals.residual_sd * sqrt(
            {{ window_days }}
            + {{ window_days * window_days }} / market_models.estimation_days
            + (cumulative_abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            * (cumulative_abnormal_returns.benchmark_return_sum_{{ window.name }}
                - {{ window_days }} * market_models.mean_benchmark_return)
            / market_models.centred_benchmark_squares
        ) as car_{{ window.name }}_standard_error_pct,
        {% endfor %}
    from cumulative_abnormal_returns
    inner join market_models
        on cumulative_abnormal_returns.event_id = market_models.event_id
        and cumulative_abnormal_returns.ticker = market_models.ticker
    inner join estimation_residuals
        on cumulative_abnormal_returns.event_id = estimation_residuals.event_id
        and cumulative_abnormal_returns.ticker = estimation_residuals.ticker
),

-- lineage: data_source of every price row used (security and benchmark,
-- estimation and CAR windows); load_id of the rows of the CAR windows only.
-- Distinct aggregates keep a few values per event and listing, not its rows.
lineage_sets as (
    select
        event_id,
        ticker,
        array_agg(distinct data_source) filter (where is_used) as security_sources,
        array_agg(distinct benchmark_data_source) filter (where is_used) as benchmark_sources,
        array_agg(distinct load_id) filter (where is_car_day) as security_load_ids,
        array_agg(distinct benchmark_load_id) filter (where is_car_day) as benchmark_load_ids,
    from (
        select
            *,
            relative_day between {{ car_start }} and {{ car_end }} as is_car_day,
            relative_day between {{ car_start }} and {{ car_end }}
                or (
                    relative_day between {{ estimation_start }} and {{ estimation_end }}
                    and security_return_local is not null
                    and benchmark_return_local is not null
                ) as is_used,
        from event_study_days
    )
    group by event_id, ticker
),

lineage as (
    select
        event_id,
        ticker,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_sources, benchmark_sources), source -> source is not null
        ))), ','), '') as data_source,
        nullif(array_to_string(list_sort(list_distinct(list_filter(
            list_concat(security_load_ids, benchmark_load_ids), load -> load is not null
        ))), ','), '') as load_id,
    from lineage_sets
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
        coalesce(market_models.estimation_days, 0) as estimation_days,
        market_models.estimation_start_date,
        market_models.estimation_end_date,
        market_models.alpha,
        market_models.beta,
        estimation_residuals.residual_sd,
        {% for window in car_windows -%}
        cumulative_abnormal_returns.car_{{ window.name }}_pct,
        {% endfor -%}
        {% for window in car_windows -%}
        cumulative_abnormal_returns.car_{{ window.name }}_pct
            / nullif(car_standard_errors.car_{{ window.name }}_standard_error_pct, 0)
            as car_{{ window.name }}_t_stat,
        {% endfor -%}
        lineage.data_source,
        lineage.load_id,
        event_days.event_source,
    from event_days
    left join market_models
        on event_days.event_id = market_models.event_id
        and event_days.ticker = market_models.ticker
    left join estimation_residuals
        on event_days.event_id = estimation_residuals.event_id
        and event_days.ticker = estimation_residuals.ticker
    left join cumulative_abnormal_returns
        on event_days.event_id = cumulative_abnormal_returns.event_id
        and event_days.ticker = cumulative_abnormal_returns.ticker
    left join car_standard_errors
        on event_days.event_id = car_standard_errors.event_id
        and event_days.ticker = car_standard_errors.ticker
    left join lineage
        on event_days.event_id = lineage.event_id
        and event_days.ticker = lineage.ticker
),

final as (
    select * from joined
)

select * from final
