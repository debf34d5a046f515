-- The average cross-correlation of the market-model residuals of a group's
-- listings over each event's estimation window, for the Kolari & Pynnönen
-- (2010) adjustment of the group's BMP test (policy_event_group_impact): one
-- row per event and group with at least one pair of listings with a fitted
-- market model. Docs block formula_int_policy_event_residual_correlations_mean
-- (_policy_events__docs.md). Sums are exact fixed-point sums
-- (macros/incremental.sql) and the average runs in pair order, so rebuilds
-- are bit-identical. A view.

{%- set estimation_window = event_study_estimation_window() %}

with window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
),

market_models as (
    select * from {{ ref('int_policy_event_market_models') }}
),

event_days as (
    select * from {{ ref('int_policy_event_days') }}
),

-- the estimation days the market model was fitted on, with their residual
residuals as (
    select
        window_days.event_id,
        event_days.group_name,
        window_days.ticker,
        window_days.trade_date,
        window_days.security_return_local
        - (
            market_models.alpha
            + market_models.beta_lag * case when market_models.uses_lead_lag then window_days.market_return_lag else 0 end
            + market_models.beta_same_day * window_days.market_return
            + market_models.beta_lead * case when market_models.uses_lead_lag then window_days.market_return_lead else 0 end
        ) as residual,
    from window_days
    inner join market_models
        on window_days.event_id = market_models.event_id
        and window_days.ticker = market_models.ticker
    inner join event_days
        on window_days.event_id = event_days.event_id
        and window_days.ticker = event_days.ticker
    where window_days.relative_day between {{ estimation_window[0] }} and {{ estimation_window[1] }}
        and not window_days.is_in_other_event_window
        and market_models.residual_sd is not null
),

-- each pair of the group's listings on the trade dates both have a residual
pair_sums as (
    select
        first_listing.event_id,
        first_listing.group_name,
        first_listing.ticker as first_ticker,
        second_listing.ticker as second_ticker,
        count(*) as common_days,
        {{ exact_sum('first_listing.residual') }} as sum_x,
        {{ exact_sum('second_listing.residual') }} as sum_y,
        {{ exact_sum('first_listing.residual * first_listing.residual') }} as sum_xx,
        {{ exact_sum('second_listing.residual * second_listing.residual') }} as sum_yy,
        {{ exact_sum('first_listing.residual * second_listing.residual') }} as sum_xy,
    from residuals as first_listing
    inner join residuals as second_listing
        on first_listing.event_id = second_listing.event_id
        and first_listing.group_name = second_listing.group_name
        and first_listing.trade_date = second_listing.trade_date
        and first_listing.ticker < second_listing.ticker
    where first_listing.residual is not null
        and second_listing.residual is not null
    group by all
),

pair_correlations as (
    select
        event_id,
        group_name,
        first_ticker,
        second_ticker,
        (common_days * sum_xy - sum_x * sum_y)
        / nullif(sqrt((common_days * sum_xx - sum_x * sum_x) * (common_days * sum_yy - sum_y * sum_y)), 0)
            as residual_correlation,
    from pair_sums
    where common_days >= 3
),

final as (
    select
        event_id,
        group_name,
        count(residual_correlation) as residual_pair_count,
        sum(residual_correlation order by first_ticker, second_ticker)
            / nullif(count(residual_correlation), 0) as mean_residual_correlation,
    from pair_correlations
    group by event_id, group_name
)

select * from final
