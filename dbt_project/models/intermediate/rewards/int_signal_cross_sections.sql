-- The signal's cross-sections: per calendar quarter (the execution gap's
-- z-score cross-section), group (china_tech, us_ai_leader and pooled),
-- horizon, reward basis and execution-gap version, the rank information
-- coefficient of the gap with the reward that followed, the top-minus-bottom
-- tercile spread of the reward and the slope of the reward on the gap.
-- A cross-section version is each distinct gap_known_at of its quarter, with
-- every company's latest gap version known by then; it appears only once
-- every one of its companies has the reward (a partial cross-section would
-- change later), and is known from the latest known_at of its observations.
-- Statistics are null below var signal_min_observations companies.
-- Formulas: docs blocks formula_signal_evaluation_* (marts/signal_evaluation/
-- _signal_evaluation__docs.md).
-- Incremental by calendar quarter: a build recomputes every cross-section of
-- the quarters holding an observation whose execution_gap or reward row was
-- rewritten since this table's last build (an inputs_loaded_through newer than
-- this table's: all three are stamped with the results_rewards boundary's
-- inputs, macros/incremental_boundaries.sql), all
-- versions and groups of the quarter at once (delete+insert on the quarter),
-- so a new day costs the quarters whose rewards it completed.

{{ config(
    materialized='incremental',
    unique_key=['calendar_quarter_end'],
) }}

{%- set min_observations = number_var('signal_min_observations', 5) %}

with all_observations as (
    select * from {{ ref('int_signal_observations') }}
),

observations as (
    select * from all_observations
    {%- if is_incremental() and tracks_changes(this) %}
    where calendar_quarter_end in (
        select calendar_quarter_end from all_observations
        where {{ loaded_since_last_build('inputs_loaded_through') }}
    )
    {%- endif %}
),

grouped_observations as (
    select * from observations
    union all
    select * replace ('pooled' as group_name) from observations
),

gap_versions as (
    select distinct
        calendar_quarter_end,
        group_name,
        gap_known_at as version_gap_known_at,
    from grouped_observations
),

-- each company's latest gap version known at the cross-section version
version_observations as (
    select
        gap_versions.version_gap_known_at,
        grouped_observations.*,
    from gap_versions
    inner join grouped_observations
        on gap_versions.calendar_quarter_end = grouped_observations.calendar_quarter_end
        and gap_versions.group_name = grouped_observations.group_name
        and grouped_observations.gap_known_at <= gap_versions.version_gap_known_at
    qualify row_number() over (
        partition by
            gap_versions.calendar_quarter_end,
            gap_versions.group_name,
            gap_versions.version_gap_known_at,
            grouped_observations.horizon,
            grouped_observations.reward_basis,
            grouped_observations.ticker,
            grouped_observations.fiscal_period_end
        order by grouped_observations.gap_known_at desc
    ) = 1
),

complete_observations as (
    select * from version_observations
    window cross_section as (
        partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at
    )
    qualify count(reward_pct) over cross_section = count(*) over cross_section
),

-- average ranks (ties share the mean of the ranks they span), gap terciles
ranked as (
    select
        *,
        rank() over (partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at order by execution_gap)
            + (count(*) over (partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at, execution_gap) - 1) / 2 as gap_rank,
        rank() over (partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at order by reward_pct)
            + (count(*) over (partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at, reward_pct) - 1) / 2 as reward_rank,
        ntile(3) over (partition by calendar_quarter_end, group_name, horizon, reward_basis, version_gap_known_at order by execution_gap, ticker) as gap_tercile,
    from complete_observations
),

-- sums over each cross-section's companies, exact and so independent of the order a parallel scan feeds
-- them (an aggregate ordered by ticker gave the same bits, but holds every row of a group in memory and
-- does not spill): ranks are multiples of 1/2, summed as integers of twice their value; the gap and the
-- reward as fixed-point sums (macros/incremental.sql)
sums as (
    select
        calendar_quarter_end,
        group_name,
        horizon,
        reward_basis,
        version_gap_known_at as gap_known_at,
        count(*) as observation_count,
        sum(cast(2 * gap_rank as hugeint)) as gap_rank_sum,
        sum(cast(2 * reward_rank as hugeint)) as reward_rank_sum,
        sum(cast(2 * gap_rank as hugeint) * cast(2 * gap_rank as hugeint)) as gap_rank_squares,
        sum(cast(2 * reward_rank as hugeint) * cast(2 * reward_rank as hugeint)) as reward_rank_squares,
        sum(cast(2 * gap_rank as hugeint) * cast(2 * reward_rank as hugeint)) as rank_products,
        sum({{ fixed_point('reward_pct') }}) filter (where gap_tercile = 3) as top_reward_sum,
        count(*) filter (where gap_tercile = 3) as top_count,
        sum({{ fixed_point('reward_pct') }}) filter (where gap_tercile = 1) as bottom_reward_sum,
        count(*) filter (where gap_tercile = 1) as bottom_count,
        sum({{ fixed_point('execution_gap') }}) as gap_sum,
        sum({{ fixed_point('reward_pct') }}) as reward_sum,
        sum({{ fixed_point('execution_gap ^ 2') }}) as gap_squares,
        sum({{ fixed_point('execution_gap * reward_pct') }}) as gap_reward_products,
        min(execution_gap) < max(execution_gap) as gap_varies,
        max(known_at) as known_at,
        {{ distinct_values('data_source') }} as data_source,
    from ranked
    group by all
),

-- statistics null below signal_min_observations companies
final as (
    select
        calendar_quarter_end,
        group_name,
        horizon,
        reward_basis,
        gap_known_at,
        observation_count,
        -- the rank IC: the correlation of the ranks from their exact integer sums, rounded to 12 decimals
        -- (a ratio of rationals, so nothing is lost but the last bits' noise); null when a ranking is constant
        case
            when observation_count >= {{ min_observations }}
                and observation_count * gap_rank_squares > gap_rank_sum * gap_rank_sum
                and observation_count * reward_rank_squares > reward_rank_sum * reward_rank_sum
                then round(
                    cast(observation_count * rank_products - gap_rank_sum * reward_rank_sum as double)
                    / sqrt(
                        cast(observation_count * gap_rank_squares - gap_rank_sum * gap_rank_sum as double)
                        * cast(observation_count * reward_rank_squares - reward_rank_sum * reward_rank_sum as double)
                    ),
                    12
                )
        end as rank_ic,
        case
            when observation_count >= {{ min_observations }}
                then {{ from_fixed_point('top_reward_sum') }} / top_count
                    - {{ from_fixed_point('bottom_reward_sum') }} / bottom_count
        end as tercile_spread_pp,
        case
            when observation_count >= {{ min_observations }} and gap_varies
                then {{ slope_from_sums(
                    'observation_count',
                    from_fixed_point('gap_sum'),
                    from_fixed_point('reward_sum'),
                    from_fixed_point('gap_squares'),
                    from_fixed_point('gap_reward_products')
                ) }}
        end as reward_slope_pp_per_gap,
        known_at,
        data_source,
        {{ inputs_loaded_through(results_rewards_inputs()) }} as inputs_loaded_through,
    from sums
)

select * from final
