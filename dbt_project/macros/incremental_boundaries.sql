{#-
    The incremental boundaries, each decided here once. A boundary names the
    raw inputs whose newly loaded rows decide what a build recomputes, and
    the date column of each that says from when on a row can change the
    models sharing it. Every model of a boundary calls its macros:
    `<boundary>_inputs()` for the `inputs_loaded_through` stamp and
    `<boundary>_start()` for the earliest date to recompute (a Python date,
    computed against the calling model's own table; see recompute_start in
    macros/incremental.sql, which also explains the stamps).

    daily_series          int_daily_returns, int_baskets_equal_weighted,
                          int_performance_rolling_windows, int_performance_returns:
                          a price (trade_date) or an FX fixing (rate_date)
                          changes the daily series from its own date on.
                          Models with 252-row or 12-month windows read
                          var incremental_context_days before the start as
                          context (daily_series_context_from).
    cap_weighted_baskets  int_baskets_cap_weighted: the daily series, and a
                          fundamental (shares outstanding) from the date it
                          became public (available_at) on.
    relative_performance  the mart relative_performance: the daily series,
                          the CPI known from a print's release_date and the
                          execution gap known from a report_date.
    execution_gap         the mart execution_gap, by calendar quarter: every
                          version of the quarters with a row whose fiscal
                          period ends on or after the earliest price, FX or
                          fiscal_period_end touched (a late report carries
                          its own fiscal_period_end), deleted first by its
                          pre-hook (execution_gap_delete_rebuilt_quarters);
                          int_quarterly_market_rewards, by row: the rows
                          whose fiscal period ends on or after that date.
    results_rewards       int_results_rewards, by row: the execution gap's
                          inputs (a price or FX fixing by its date, a
                          fundamental by its fiscal_period_end, which every
                          window of its quarter follows); a row is kept while
                          every horizon is complete and known before the
                          earliest such date (or it has no price history and
                          its day 0 is before it), so a new day recomputes
                          only the quarters whose windows are still open.
    fundamental_reports   int_fundamentals_ttm, by company: every vintage of
                          the companies with fundamentals loaded since.
    policy event study    by event: int_policy_event_days decides which
                          events to recompute (macros/event_study.sql);
                          policy_event_impact recomputes the events that
                          model rewrote (event_study_events_to_rebuild).
-#}

{#- daily_series: int_daily_returns, int_baskets_equal_weighted, int_performance_rolling_windows, int_performance_returns -#}
{% macro daily_series_inputs() -%}
    {{ return([(ref('stg_raw__prices'), 'trade_date'), (ref('stg_raw__fx_rates'), 'rate_date')]) }}
{%- endmacro %}

{% macro daily_series_start() -%}
    {{ return(recompute_start(daily_series_inputs())) }}
{%- endmacro %}

{#- cap_weighted_baskets: int_baskets_cap_weighted -#}
{% macro cap_weighted_baskets_inputs() -%}
    {{ return(daily_series_inputs() + [(ref('stg_raw__fundamentals'), 'cast(available_at as date)')]) }}
{%- endmacro %}

{% macro cap_weighted_baskets_start() -%}
    {{ return(recompute_start(cap_weighted_baskets_inputs())) }}
{%- endmacro %}

{#- The first date a windowed model reads: var incremental_context_days before `start` (see date_literal). -#}
{% macro daily_series_context_from(start) -%}
    {{ date_literal(start, days_before=number_var('incremental_context_days', 450)) }}
{%- endmacro %}

{#- relative_performance: the daily series, CPI by release date, fundamentals by report date -#}
{% macro relative_performance_inputs() -%}
    {{ return(daily_series_inputs() + [
        (ref('stg_raw__cpi_observations'), 'release_date'),
        (ref('stg_raw__fundamentals'), 'report_date'),
    ]) }}
{%- endmacro %}

{% macro relative_performance_start() -%}
    {{ return(recompute_start(relative_performance_inputs())) }}
{%- endmacro %}

{#- execution_gap: prices, FX and fundamentals by the fiscal period end they can move; new reports by report_date -#}
{% macro execution_gap_inputs() -%}
    {{ return(daily_series_inputs() + [(ref('stg_raw__fundamentals'), 'fiscal_period_end')]) }}
{%- endmacro %}

{% macro execution_gap_start() -%}
    {{ return(recompute_start(execution_gap_inputs())) }}
{%- endmacro %}

{#- execution_gap's pre-hook: delete every version of the calendar quarters the build recomputes, so a
    version whose known_at moved (a quarter completed before its deadline) leaves no stale row. -#}
{% macro execution_gap_delete_rebuilt_quarters() -%}
    {%- if is_incremental() %}
    delete from {{ this }}
    where calendar_quarter_end in (
        select calendar_quarter_end from {{ ref('int_quarters_first_reported') }}
        where fiscal_period_end >= {{ date_literal(execution_gap_start()) }}
    )
    {%- endif %}
{%- endmacro %}

{#- results_rewards: int_results_rewards, by row (its quarters CTE keeps the complete rows known before the start) -#}
{% macro results_rewards_inputs() -%}
    {{ return(execution_gap_inputs()) }}
{%- endmacro %}

{% macro results_rewards_start() -%}
    {{ return(recompute_start(results_rewards_inputs())) }}
{%- endmacro %}

{#- fundamental_reports: int_fundamentals_ttm, by company -#}
{% macro fundamental_reports_inputs() -%}
    {{ return([(ref('stg_raw__fundamentals'), 'report_date')]) }}
{%- endmacro %}

{#- A predicate on `ticker`: true for the companies whose fundamentals were loaded since the last build. -#}
{% macro fundamental_reports_changed_tickers() -%}
    ticker in (
        select distinct ticker from {{ ref('stg_raw__fundamentals') }}
        where {{ loaded_since_last_build() }}
    )
{%- endmacro %}
