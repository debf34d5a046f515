{#-
    Cross-sectional z-score of `column` within the window `partition by
    <partition_by>`, using the population standard deviation:

        z = (x - avg(x)) / stddev_pop(x)

    Nulls are ignored by avg and stddev_pop (they stay null). The z-score is
    null when the cross-section has no dispersion (stddev 0, e.g. a single
    member).

    Usage: {{ zscore('investment_intensity_pct', 'calendar_quarter_end') }}
-#}
{% macro zscore(column, partition_by) -%}
    (
        ({{ column }}) - avg({{ column }}) over (partition by {{ partition_by }})
    ) / nullif(stddev_pop({{ column }}) over (partition by {{ partition_by }}), 0)
{%- endmacro %}
