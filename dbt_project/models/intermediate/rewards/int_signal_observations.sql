-- The execution gap against the reward that followed it: one row per company,
-- fiscal quarter, execution-gap version, horizon (macros/results_rewards.sql)
-- and reward basis (benchmark | market). A row exists once the gap is known;
-- reward_pct and known_at stay null until the reward's window is complete.
-- Quarters without a day -1 of prices (has_price_history false) are left out.
-- Docs block formula_int_signal_observations_known_at (_rewards__docs.md). A view.
-- inputs_loaded_through: the newer stamp of its execution_gap and reward rows
-- (int_signal_cross_sections recomputes the quarters holding a newer one).

{%- set horizons = results_reward_horizons() %}

with execution_gap as (
    -- The one read of execution_gap. gap_known_at is when that version of the gap became public
    -- (execution_gap.known_at: a late reporter adds a version), so every version is evaluated as of
    -- when it was known.
    select
        ticker,
        group_name,
        fiscal_period_end,
        calendar_quarter_end,
        execution_gap,
        known_at as gap_known_at,
        inputs_loaded_through as gap_inputs_loaded_through,
    from {{ ref('execution_gap') }}
),

rewards as (
    select * from {{ ref('int_results_rewards') }}
),

gaps as (
    select * from execution_gap
    where execution_gap is not null
        and gap_known_at is not null
),

observations as (
    {%- for horizon in horizons %}
    {%- for basis in results_reward_bases() %}
    {%- set unit = 'pct' if horizon.kind == 'car' else 'pp' %}
    select
        gaps.ticker,
        gaps.group_name,
        gaps.calendar_quarter_end,
        gaps.fiscal_period_end,
        {{ sql_literal(horizon.name) }} as horizon,
        {{ sql_literal(basis) }} as reward_basis,
        gaps.execution_gap,
        rewards.{{ horizon.name }}_vs_{{ basis }}_{{ unit }} as reward_pct,
        gaps.gap_known_at,
        rewards.{{ horizon.name }}_known_at as reward_known_at,
        rewards.data_source,
        greatest(gaps.gap_inputs_loaded_through, rewards.inputs_loaded_through) as inputs_loaded_through,
    from gaps
    inner join rewards
        on gaps.ticker = rewards.ticker
        and gaps.fiscal_period_end = rewards.fiscal_period_end
    where rewards.has_price_history
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
),

final as (
    select
        *,
        case
            when reward_known_at is not null then greatest(gap_known_at, reward_known_at)
        end as known_at,
    from observations
)

select * from final
