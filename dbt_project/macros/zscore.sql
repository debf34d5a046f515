{#-
    Cross-sectional z-score of `column` within the window `partition by
    <partition_by>`, using the population standard deviation:

        z = (x - avg(x)) / stddev_pop(x)

    Nulls are ignored by avg and stddev_pop (they stay null). The z-score is
    null when the cross-section has no dispersion (stddev 0, e.g. a single
    member). With `clip`, the z-score is winsorized to [-clip, +clip] so one
    outlier cannot dominate a composite score.

    The window is ordered by `order_by` (a key unique within the partition)
    over the whole partition, so the floating-point sums run in the same
    order on every build: rebuilding gives bit-identical z-scores.

    Usage: {{ zscore('investment_intensity_pct', 'calendar_quarter_end', 'ticker', clip=3) }}
-#}
{% macro zscore(column, partition_by, order_by, clip=none) -%}
    {%- set window -%}
        (partition by {{ partition_by }} order by {{ order_by }}
         rows between unbounded preceding and unbounded following)
    {%- endset -%}
    {%- set raw_zscore -%}
        (
            ({{ column }}) - avg({{ column }}) over {{ window }}
        ) / nullif(stddev_pop({{ column }}) over {{ window }}, 0)
    {%- endset -%}
    {%- if clip is none -%}
        {{ raw_zscore }}
    {%- else -%}
        {#- least/greatest skip nulls in DuckDB: a null z-score must stay null -#}
        case
            when {{ raw_zscore }} > {{ clip }} then {{ clip }}
            when {{ raw_zscore }} < -{{ clip }} then -{{ clip }}
            else {{ raw_zscore }}
        end
    {%- endif -%}
{%- endmacro %}
