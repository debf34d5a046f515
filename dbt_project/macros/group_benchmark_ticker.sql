{#-
    SQL expression mapping a group name to its basket benchmark ticker, from
    the `group_benchmarks` var in dbt_project.yml (null for unknown groups).
    Group names and tickers come from the universe file: written as literals
    through sql_literal, never pasted between quotes.
-#}
{% macro group_benchmark_ticker(group_column) -%}
    {%- set group_benchmarks = var('group_benchmarks', {}) -%}
    {%- if group_benchmarks is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "Invalid var group_benchmarks: " ~ group_benchmarks ~ ". Expected a mapping of group name to "
            ~ "benchmark ticker, e.g. {us_ai_leader: QQQ}."
        ) }}
    {%- endif -%}
    {%- if group_benchmarks | length == 0 -%}
        cast(null as varchar)
    {%- else -%}
        case {{ group_column }}
            {%- for group_name, benchmark_ticker in group_benchmarks.items() %}
            when {{ sql_literal(group_name) }} then {{ sql_literal(benchmark_ticker) }}
            {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}
