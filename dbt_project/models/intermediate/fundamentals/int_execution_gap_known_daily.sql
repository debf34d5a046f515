-- The execution gap known on each trading day of each listing: the latest
-- fiscal quarter of the company whose execution-gap cross-section was
-- complete on trade_date (ASOF on execution_gap.zscores_known_from_date).
-- Docs block formula_int_execution_gap_known_daily (_fundamentals__docs.md).
-- Reads the execution_gap mart: the point-in-time view of it that
-- relative_performance joins on (ticker, trade_date). A view: a filter on
-- trade_date reaches the int_daily_returns scan.

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
),

execution_gap as (
    select * from {{ ref('execution_gap') }}
),

listing_days as (
    select
        ticker,
        trade_date,
    from daily_returns
),

known_quarters as (
    select
        ticker,
        zscores_known_from_date,
        fiscal_period_end as known_fiscal_period_end,
        execution_gap as known_execution_gap,
        reward_gap as known_reward_gap,
    from execution_gap
    where zscores_known_from_date is not null
),

known_on_trade_date as (
    select
        listing_days.ticker,
        listing_days.trade_date,
        known_quarters.known_fiscal_period_end,
        known_quarters.known_execution_gap,
        known_quarters.known_reward_gap,
    from listing_days
    asof left join known_quarters
        on listing_days.ticker = known_quarters.ticker
        and listing_days.trade_date >= known_quarters.zscores_known_from_date
),

final as (
    select * from known_on_trade_date
)

select * from final
