{#-
    SQL expression mapping a group name to its basket benchmark ticker, from
    the `group_benchmarks` var in dbt_project.yml (null for unknown groups).
-#}
{% macro group_benchmark_ticker(group_column) -%}
    {%- set group_benchmarks = var('group_benchmarks', {}) -%}
    {%- if group_benchmarks | length == 0 -%}
        cast(null as varchar)
    {%- else -%}
        case {{ group_column }}
            {%- for group_name, benchmark_ticker in group_benchmarks.items() %}
            when '{{ group_name }}' then '{{ benchmark_ticker }}'
            {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}
