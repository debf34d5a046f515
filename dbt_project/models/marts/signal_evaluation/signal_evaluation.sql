-- Do investors pay for measured AI results? Per group (china_tech,
-- us_ai_leader, pooled), horizon and reward basis, the evaluation of the
-- execution gap as a signal of the reward that followed its quarter's
-- results, over the cross-sections of int_signal_cross_sections: mean rank
-- IC with a plain and a Newey-West t-statistic (lag per horizon, declared in
-- macros/results_rewards.sql), hit rate, mean tercile spread and mean slope,
-- and on the pooled rows the China-minus-US difference in slopes.
-- Point in time: one row per evaluation version, each time a cross-section
-- became known (known_at); a version uses, per calendar quarter, the latest
-- cross-section version known by then, so a row never changes once known and
-- new evidence is a new row. The latest evaluation is the row with the
-- greatest known_at per (group_name, horizon, reward_basis).
-- Formulas: docs blocks formula_signal_evaluation_* (_signal_evaluation__docs.md).

{%- set horizons = results_reward_horizons() %}
{%- set max_lag = horizons | map(attribute='newey_west_lag') | max %}

with cross_sections as (
    select * from {{ ref('int_signal_cross_sections') }}
    where rank_ic is not null
),

horizon_lags (horizon, horizon_sessions, newey_west_lag) as (
    values
    {%- for horizon in horizons %}
        ({{ sql_literal(horizon.name) }}, {{ horizon.sessions }}, {{ horizon.newey_west_lag }}){{ "," if not loop.last }}
    {%- endfor %}
),

versions as (
    select distinct
        group_name,
        horizon,
        reward_basis,
        known_at as version_known_at,
    from cross_sections
),

-- per version and calendar quarter, the latest cross-section version known by then
version_cross_sections as (
    select
        versions.version_known_at,
        cross_sections.*,
    from versions
    inner join cross_sections
        on versions.group_name = cross_sections.group_name
        and versions.horizon = cross_sections.horizon
        and versions.reward_basis = cross_sections.reward_basis
        and cross_sections.known_at <= versions.version_known_at
    qualify row_number() over (
        partition by
            versions.group_name,
            versions.horizon,
            versions.reward_basis,
            versions.version_known_at,
            cross_sections.calendar_quarter_end
        order by cross_sections.known_at desc
    ) = 1
),

-- every float aggregate below runs in calendar-quarter order: the same bits in every build
ic_means as (
    select
        group_name,
        horizon,
        reward_basis,
        version_known_at,
        avg(rank_ic order by calendar_quarter_end) as rank_ic_mean,
    from version_cross_sections
    group by all
),

deviations as (
    select
        version_cross_sections.*,
        version_cross_sections.rank_ic - ic_means.rank_ic_mean as ic_deviation,
    from version_cross_sections
    inner join ic_means
        on version_cross_sections.group_name = ic_means.group_name
        and version_cross_sections.horizon = ic_means.horizon
        and version_cross_sections.reward_basis = ic_means.reward_basis
        and version_cross_sections.version_known_at = ic_means.version_known_at
),

lagged_deviations as (
    select
        *,
        {%- for lag in range(1, max_lag + 1) %}
        lag(ic_deviation, {{ lag }}) over version_quarters as ic_deviation_lag_{{ lag }},
        {%- endfor %}
    from deviations
    window version_quarters as (
        partition by group_name, horizon, reward_basis, version_known_at
        order by calendar_quarter_end
    )
),

evaluations as (
    select
        group_name,
        horizon,
        reward_basis,
        version_known_at as known_at,
        count(*) as cross_section_count,
        cast(sum(observation_count) as bigint) as observation_count,  -- HUGEINT has no Parquet type
        min(calendar_quarter_end) as first_calendar_quarter_end,
        max(calendar_quarter_end) as last_calendar_quarter_end,
        avg(rank_ic order by calendar_quarter_end) as rank_ic_mean,
        stddev_samp(rank_ic order by calendar_quarter_end) as rank_ic_sd,
        sum(ic_deviation * ic_deviation order by calendar_quarter_end) as ic_sum_of_squares,
        {%- for lag in range(1, max_lag + 1) %}
        coalesce(sum(ic_deviation * ic_deviation_lag_{{ lag }} order by calendar_quarter_end), 0)
            as ic_autocovariance_sum_{{ lag }},
        {%- endfor %}
        avg(case when rank_ic > 0 then 1.0 else 0.0 end order by calendar_quarter_end) as rank_ic_hit_rate,
        avg(tercile_spread_pp order by calendar_quarter_end) as tercile_spread_mean_pp,
        avg(reward_slope_pp_per_gap order by calendar_quarter_end) as reward_slope_mean_pp_per_gap,
        {{ distinct_values('data_source') }} as data_source,
    from lagged_deviations
    group by all
),

-- per calendar quarter with both groups' slopes: China's minus the US's
slope_differences as (
    select
        china.horizon,
        china.reward_basis,
        china.calendar_quarter_end,
        china.reward_slope_pp_per_gap - us.reward_slope_pp_per_gap as slope_difference,
        greatest(china.known_at, us.known_at) as known_at,
    from cross_sections as china
    inner join cross_sections as us
        on china.horizon = us.horizon
        and china.reward_basis = us.reward_basis
        and china.calendar_quarter_end = us.calendar_quarter_end
    where china.group_name = 'china_tech'
        and us.group_name = 'us_ai_leader'
        and china.reward_slope_pp_per_gap is not null
        and us.reward_slope_pp_per_gap is not null
    qualify row_number() over (
        partition by china.horizon, china.reward_basis, china.calendar_quarter_end
        order by greatest(china.known_at, us.known_at) desc
    ) = 1
),

-- the pooled versions' slope differences, over the quarters known by then
version_slope_differences as (
    select
        evaluations.horizon,
        evaluations.reward_basis,
        evaluations.known_at,
        count(slope_differences.slope_difference) as slope_difference_count,
        avg(slope_differences.slope_difference order by slope_differences.calendar_quarter_end)
            as slope_difference_mean,
        stddev_samp(slope_differences.slope_difference order by slope_differences.calendar_quarter_end)
            as slope_difference_sd,
    from evaluations
    inner join slope_differences
        on evaluations.horizon = slope_differences.horizon
        and evaluations.reward_basis = slope_differences.reward_basis
        and slope_differences.known_at <= evaluations.known_at
    where evaluations.group_name = 'pooled'
    group by all
),

statistics as (
    select
        evaluations.*,
        horizon_lags.horizon_sessions,
        horizon_lags.newey_west_lag,
        (
            evaluations.ic_sum_of_squares
            {%- for lag in range(1, max_lag + 1) %}
            + case
                when horizon_lags.newey_west_lag >= {{ lag }}
                    then 2 * (1 - {{ lag }} / (horizon_lags.newey_west_lag + 1)) * evaluations.ic_autocovariance_sum_{{ lag }}
                else 0
            end
            {%- endfor %}
        ) / evaluations.cross_section_count as ic_long_run_variance,
        version_slope_differences.slope_difference_count,
        version_slope_differences.slope_difference_mean,
        version_slope_differences.slope_difference_sd,
    from evaluations
    inner join horizon_lags
        on evaluations.horizon = horizon_lags.horizon
    left join version_slope_differences
        on evaluations.group_name = 'pooled'
        and evaluations.horizon = version_slope_differences.horizon
        and evaluations.reward_basis = version_slope_differences.reward_basis
        and evaluations.known_at = version_slope_differences.known_at
),

final as (
    select
        group_name,
        horizon,
        reward_basis,
        horizon_sessions,
        known_at,
        first_calendar_quarter_end,
        last_calendar_quarter_end,
        cross_section_count,
        observation_count,
        rank_ic_mean,
        rank_ic_sd,
        case
            -- a spread below 1e-12 of the mean's scale is rounding noise of equal ICs: no t-statistic
            when cross_section_count >= 2 and rank_ic_sd > 1e-12 * greatest(abs(rank_ic_mean), 1)
                then rank_ic_mean / (rank_ic_sd / sqrt(cross_section_count))
        end as rank_ic_t_stat,
        newey_west_lag,
        case
            when cross_section_count >= 2 and ic_long_run_variance > 1e-24 * greatest(rank_ic_mean * rank_ic_mean, 1)
                then rank_ic_mean / sqrt(ic_long_run_variance / cross_section_count)
        end as rank_ic_t_stat_newey_west,
        rank_ic_hit_rate,
        tercile_spread_mean_pp,
        reward_slope_mean_pp_per_gap,
        slope_difference_count as china_minus_us_slope_quarter_count,
        slope_difference_mean as china_minus_us_slope_mean_pp_per_gap,
        case
            when slope_difference_count >= 2
                and slope_difference_sd > 1e-12 * greatest(abs(slope_difference_mean), 1)
                then slope_difference_mean / (slope_difference_sd / sqrt(slope_difference_count))
        end as china_minus_us_slope_t_stat,
        data_source,
    from statistics
)

select * from final
