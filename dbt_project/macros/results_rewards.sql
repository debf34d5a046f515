{#-
    The reward horizons after a quarter's results became public, decided once
    (int_results_rewards computes them, int_signal_observations unpivots them,
    signal_evaluation takes each one's Newey-West lag from here).

    name            column prefix in int_results_rewards and `horizon` value downstream
    kind            'car': market-adjusted cumulative abnormal return over trading days [0, end]
                    'forward': buy-and-hold return from the close of day 0 to the close of day `end`
    end             the last trading day of the window, relative to day 0 (the stock's own sessions)
    sessions        return days the window spans (car: end + 1; forward: end)
    newey_west_lag  later cross-sections (about 63 sessions apart) whose windows can overlap one
                    cross-section's: floor(sessions / 63)
-#}
{% macro results_reward_horizons() -%}
    {{ return([
        {'name': 'car_p0_p1', 'kind': 'car', 'end': 1, 'sessions': 2, 'newey_west_lag': 0},
        {'name': 'car_p0_p5', 'kind': 'car', 'end': 5, 'sessions': 6, 'newey_west_lag': 0},
        {'name': 'return_1m', 'kind': 'forward', 'end': 21, 'sessions': 21, 'newey_west_lag': 0},
        {'name': 'return_3m', 'kind': 'forward', 'end': 63, 'sessions': 63, 'newey_west_lag': 1},
        {'name': 'return_6m', 'kind': 'forward', 'end': 126, 'sessions': 126, 'newey_west_lag': 2},
    ]) }}
{%- endmacro %}

{#- What a reward is measured against: the group benchmark (securities.benchmark_ticker) and the broad market (securities.market_ticker). -#}
{% macro results_reward_bases() -%}
    {{ return(['benchmark', 'market']) }}
{%- endmacro %}
