{#-
    The level of a basket chained from its daily USD returns, as an exact fixed-point sum of log returns
    (macros/incremental.sql: a full and an incremental build give the same bits); an incremental build
    continues from the stored level before recompute_from. Emits the CTEs log_levels_before (incremental
    builds only) and log_levels (every column of `daily` plus log_level_fixed_point); `daily` is the name
    of a CTE with series_id, trade_date and daily_return_usd. Used by both basket models.
-#}
{% macro chained_log_levels(daily, recompute_from) %}
{% if is_incremental() %}
log_levels_before as (
    select
        series_id,
        arg_max(log_level_fixed_point, trade_date) as log_level_fixed_point_before,
    from {{ this }}
    where trade_date < {{ recompute_from }}
    group by series_id
),
{% endif %}

log_levels as (
    select
        {{ daily }}.*,
        {% if is_incremental() -%}
        coalesce(log_levels_before.log_level_fixed_point_before, 0)
        {%- else -%}
        cast(0 as hugeint)
        {%- endif %}
            + sum({{ fixed_point('ln(1 + coalesce(' ~ daily ~ '.daily_return_usd, 0))') }}) over (
                partition by {{ daily }}.series_id
                order by {{ daily }}.trade_date
                rows between unbounded preceding and current row
            ) as log_level_fixed_point,
    from {{ daily }}
    {% if is_incremental() -%}
    left join log_levels_before
        on {{ daily }}.series_id = log_levels_before.series_id
    {%- endif %}
),
{% endmacro %}
