{#-
    The one way a var or config value is written into SQL text (the Jinja twin of
    flows/warehouse/sql.py): a value is never pasted between quotes by hand.

    sql_literal(value)       a string literal, every ' doubled: Q'QQ -> 'Q''QQ'
                             (none -> null). Ticker, group, exchange, date text.
    sql_number(value, name)  a number written as is, after checking it is one (not a
                             string, not a boolean): a compiler error naming the var otherwise.
-#}
{% macro sql_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{% macro sql_number(value, name) -%}
    {%- if value is not number or value is boolean -%}
        {{ exceptions.raise_compiler_error(
            "Invalid var " ~ name ~ ": " ~ value ~ " is not a number. Set it to a number in dbt_project.yml "
            ~ "or in --vars."
        ) }}
    {%- endif -%}
    {{ value }}
{%- endmacro %}

{#- A numeric var, checked (sql_number) and returned as a number for arithmetic in Jinja. -#}
{% macro number_var(name, default) -%}
    {%- set value = var(name, default) -%}
    {%- do sql_number(value, name) -%}
    {{ return(value) }}
{%- endmacro %}
