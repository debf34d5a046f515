-- The execution gap known on each trading day of each listing: of the
-- versions of the company's rows in execution_gap public before the close of
-- the listing's session that day (known_before_close(known_at, close_at),
-- macros/point_in_time.sql), the latest fiscal quarter, in its latest
-- version. Docs block formula_int_execution_gap_known_daily
-- (_fundamentals__docs.md). The point-in-time view of the execution_gap mart
-- that relative_performance joins on (ticker, trade_date). A view: a filter
-- on trade_date reaches the int_daily_returns scan.

with daily_returns as (
    select * from {{ ref('int_daily_returns') }}
),

market_sessions as (
    select * from {{ ref('stg_raw__market_sessions') }}
),

execution_gap as (
    select * from {{ ref('execution_gap') }}
),

listing_days as (
    select
        daily_returns.ticker,
        daily_returns.trade_date,
        market_sessions.close_at,
    from daily_returns
    inner join market_sessions
        on daily_returns.exchange = market_sessions.exchange
        and daily_returns.trade_date = market_sessions.session_date
),

-- at each version's known_at, the company's best row public by then: the latest fiscal quarter, in
-- its latest version (a late version of an older quarter does not push a newer quarter aside)
best_known as (
    select
        ticker,
        known_at,
        fiscal_period_end,
        arg_max(
            {
                'fiscal_period_end': fiscal_period_end,
                'known_at': known_at,
                'execution_gap': execution_gap,
                'reward_gap': reward_gap
            },
            {'fiscal_period_end': fiscal_period_end, 'known_at': known_at}
        ) over (
            partition by ticker
            order by known_at, fiscal_period_end
            rows between unbounded preceding and current row
        ) as best,
    from execution_gap
),

known_timeline as (
    select
        ticker,
        known_at,
        best.fiscal_period_end as known_fiscal_period_end,
        best.known_at as execution_gap_known_at,
        best.execution_gap as known_execution_gap,
        best.reward_gap as known_reward_gap,
    from best_known
    -- the last of the rows sharing a known_at has seen them all
    qualify row_number() over (partition by ticker, known_at order by fiscal_period_end desc) = 1
),

known_on_trade_date as (
    select
        listing_days.ticker,
        listing_days.trade_date,
        known_timeline.known_fiscal_period_end,
        known_timeline.execution_gap_known_at,
        known_timeline.known_execution_gap,
        known_timeline.known_reward_gap,
    from listing_days
    asof left join known_timeline
        on listing_days.ticker = known_timeline.ticker
        and {{ known_before_close('known_timeline.known_at', 'listing_days.close_at') }}
),

final as (
    select * from known_on_trade_date
)

select * from final
