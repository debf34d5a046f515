-- The average cross-correlation of the market-model residuals of a group's
-- listings over each event's estimation window, for the Kolari & Pynnönen
-- (2010) adjustment of the group's BMP test (policy_event_group_impact): one
-- row per event and group of policy_event_impact (no correlation where no
-- pair of listings shares 3 estimation days). Docs block formula_int_policy_event_residual_correlations_mean
-- (_policy_events__docs.md). The pairs are not joined one by one (~n^2 rows):
-- listings with the same estimation days form a class, and the sum of a class
-- pair's correlations comes from per-day sums of standardised residuals (cost
-- linear in the listings). Within-day sums are exact fixed-point sums
-- (macros/incremental.sql) and the others run in date and class order, so
-- rebuilds are bit-identical.
-- Incremental (delete+insert on event_id, group_name), by the rule of its
-- reader policy_event_group_impact: each row stores the digest of the
-- policy_event_impact rows of its event and group, whose values show the
-- fits and estimation windows it is computed from, and a build recomputes
-- the events whose digest changed (event_study_group_events_to_rebuild,
-- macros/event_study.sql), filtered in the first CTEs. A table, not a view:
-- DuckDB computed the view for every event before the reader's filter
-- applied (30 s to 2 minutes per event asked for at 5,000 tickers).

{{ config(
    materialized='incremental',
    unique_key=['event_id', 'group_name'],
    post_hook="{{ event_study_delete_rows_not_in(this, ref('policy_event_impact'), ['event_id', 'group_name']) }}",
) }}

{%- set estimation_window = event_study_estimation_window() %}
{%- set events = event_study_group_events_to_rebuild(ref('policy_event_impact')) %}

with window_days as (
    select * from {{ ref('int_policy_event_window_days') }}
    where {{ event_study_event_filter(events) }}
),

market_models as (
    select * from {{ ref('int_policy_event_market_models') }}
    where {{ event_study_event_filter(events) }}
),

event_days as (
    select * from {{ ref('int_policy_event_days') }}
    where {{ event_study_event_filter(events) }}
),

-- the event's groups, with the digest of their policy_event_impact rows
impact_groups as (
    select
        event_id,
        group_name,
        {{ event_study_impact_digest('impact') }} as impact_rows_digest,
    from {{ ref('policy_event_impact') }} as impact
    where {{ event_study_event_filter(events) }}
    group by event_id, group_name
),

-- the estimation days the market model was fitted on, with their residual (where it is known)
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
        and residual is not null  -- a select alias: DuckDB resolves it in where
),

-- each listing's estimation days; listings with the same days form a class
listing_day_sets as (
    select
        event_id,
        group_name,
        ticker,
        list(trade_date order by trade_date) as day_set,
    from residuals
    group by event_id, group_name, ticker
),

listing_classes as (
    select
        event_id,
        group_name,
        ticker,
        dense_rank() over (partition by event_id, group_name order by day_set) as class_id,
    from listing_day_sets
),

class_days as (
    select distinct
        residuals.event_id,
        residuals.group_name,
        listing_classes.class_id,
        residuals.trade_date,
    from residuals
    inner join listing_classes
        on residuals.event_id = listing_classes.event_id
        and residuals.group_name = listing_classes.group_name
        and residuals.ticker = listing_classes.ticker
),

-- the days two classes share (a class with itself: all its days), for class pairs sharing at least 3
shared_days as (
    select
        first_class.event_id,
        first_class.group_name,
        first_class.class_id as first_class,
        second_class.class_id as second_class,
        first_class.trade_date,
    from class_days as first_class
    inner join class_days as second_class
        on first_class.event_id = second_class.event_id
        and first_class.group_name = second_class.group_name
        and first_class.trade_date = second_class.trade_date
        and first_class.class_id <= second_class.class_id
    qualify count(*) over (
        partition by first_class.event_id, first_class.group_name, first_class.class_id, second_class.class_id
    ) >= 3
),

-- each listing of a class pair on the days the pair shares (side 1: the first class, side 2: the second)
member_residuals as (
    select
        shared_days.event_id,
        shared_days.group_name,
        shared_days.first_class,
        shared_days.second_class,
        sides.side,
        residuals.ticker,
        shared_days.trade_date,
        residuals.residual,
    from shared_days
    cross join (values (1), (2)) as sides (side)
    inner join listing_classes
        on shared_days.event_id = listing_classes.event_id
        and shared_days.group_name = listing_classes.group_name
        and listing_classes.class_id = case when sides.side = 1 then shared_days.first_class else shared_days.second_class end
    inner join residuals
        on listing_classes.event_id = residuals.event_id
        and listing_classes.group_name = residuals.group_name
        and listing_classes.ticker = residuals.ticker
        and shared_days.trade_date = residuals.trade_date
    where sides.side = 1 or shared_days.first_class < shared_days.second_class
),

-- each listing's mean residual over the days the class pair shares: an aggregate and a join, not a window
-- over the pairs' rows, which held them all in memory (out of DuckDB's 4 GB at 5,000 tickers, ten events)
member_means as (
    select
        event_id,
        group_name,
        first_class,
        second_class,
        side,
        ticker,
        {{ exact_sum('residual') }} / count(*) as mean_residual,
    from member_residuals
    group by all
),

-- each residual's deviation from that mean
member_deviations as (
    select
        member_residuals.*,
        member_residuals.residual - member_means.mean_residual as deviation,
    from member_residuals
    inner join member_means
        using (event_id, group_name, first_class, second_class, side, ticker)
),

member_norms as (
    select
        event_id,
        group_name,
        first_class,
        second_class,
        side,
        ticker,
        sqrt({{ exact_sum('deviation * deviation') }}) as deviation_norm,
    from member_deviations
    group by all
),

-- z = the deviation over the listing's norm on the shared days: the correlation of two listings is sum(z_i z_j)
standardized as (
    select
        member_deviations.event_id,
        member_deviations.group_name,
        member_deviations.first_class,
        member_deviations.second_class,
        member_deviations.side,
        member_deviations.trade_date,
        member_deviations.deviation / member_norms.deviation_norm as z,
    from member_deviations
    inner join member_norms
        using (event_id, group_name, first_class, second_class, side, ticker)
    where member_norms.deviation_norm > 0
),

side_day_sums as (
    select
        event_id,
        group_name,
        first_class,
        second_class,
        trade_date,
        {{ exact_sum('case when side = 1 then z else 0 end') }} as first_sum,
        {{ exact_sum('case when side = 2 then z else 0 end') }} as second_sum,
        {{ exact_sum('case when side = 1 then z * z else 0 end') }} as first_squares,
    from standardized
    group by all
),

-- the pairs each class pair contributes: listings with non-constant residuals on the shared days
class_pairs as (
    select
        event_id,
        group_name,
        first_class,
        second_class,
        case
            when first_class = second_class
                then count(*) filter (where deviation_norm > 0) * (count(*) filter (where deviation_norm > 0) - 1) // 2
            else count(*) filter (where side = 1 and deviation_norm > 0) * count(*) filter (where side = 2 and deviation_norm > 0)
        end as pair_count,
    from member_norms
    group by event_id, group_name, first_class, second_class
),

-- the sum of the class pair's correlations: sum over days of s1 * s2 (two classes), or (s1^2 - sum z^2) / 2 (one)
class_pair_sums as (
    select
        event_id,
        group_name,
        first_class,
        second_class,
        case
            when first_class = second_class
                then sum((first_sum * first_sum - first_squares) / 2 order by trade_date)
            else sum(first_sum * second_sum order by trade_date)
        end as correlation_sum,
    from side_day_sums
    group by event_id, group_name, first_class, second_class
),

correlations as (
    select
        class_pairs.event_id,
        class_pairs.group_name,
        cast(sum(class_pairs.pair_count) as bigint) as residual_pair_count,
        sum(class_pair_sums.correlation_sum order by class_pairs.first_class, class_pairs.second_class)
            / nullif(sum(class_pairs.pair_count), 0) as mean_residual_correlation,
    from class_pairs
    left join class_pair_sums
        using (event_id, group_name, first_class, second_class)
    group by class_pairs.event_id, class_pairs.group_name
),

final as (
    select
        impact_groups.event_id,
        impact_groups.group_name,
        coalesce(correlations.residual_pair_count, 0) as residual_pair_count,
        correlations.mean_residual_correlation,
        impact_groups.impact_rows_digest,
    from impact_groups
    left join correlations
        on impact_groups.event_id = correlations.event_id
        and impact_groups.group_name = correlations.group_name
)

select * from final
