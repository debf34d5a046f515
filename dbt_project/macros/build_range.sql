{#-
    A whole build in date ranges. A first build or a full refresh of a large warehouse is run as a sequence
    of builds, each seeing the world as of the end of one more date range (flows/warehouse/ranges.py plans
    them and passes var build_range). Each build after the first is the ordinary incremental build: the rows
    that became visible since the previous range are the rows "loaded since the last build", so every model
    recomputes only what they touch, and no build holds the whole history's window state at once.

    var build_range (absent in every other build):
        through         the first date not yet visible (exclusive; null in the last range: all rows)
        starts          the first date of each range after the first, ascending
        loaded_through  the newest loaded_at of the raw tables when the sequence began
        visible_from    per raw table, the columns whose latest date makes a row visible (its date and the
                        date it became public: Dataset.known_at_column in flows/datasets); a table not
                        named (the calendar, the universe) is visible whole from the first range

    raw_rows(table) is the staging models' only read of a raw table. With build_range it keeps the rows
    visible before `through`, and replaces each row's loaded_at by a stamp that orders the ranges: the rows
    of range i of n carry loaded_through minus (n - 1 - i) microseconds, and every row a range's build
    writes carries that range's stamp as its inputs_loaded_through (build_range_newest_stamp). Change
    detection (macros/incremental.sql) then sees range i's rows as loaded after range i - 1's build, and
    after the last range every model's inputs_loaded_through is loaded_through, so the next ordinary build
    finds nothing new but what was loaded since. The stamps live only in the staging views of that sequence: the
    next build re-creates them over the real loaded_at.
-#}
{% macro raw_rows(table) -%}
    {%- set build_range = var('build_range', none) -%}
    {%- if build_range is none -%}
    select * from {{ source('raw', table) }}
    {%- else -%}
    {%- set visible = build_range_visible_date(build_range, table) -%}
    select * replace ({{ build_range_stamp(build_range, visible) }} as loaded_at)
    from {{ source('raw', table) }}
    {%- if visible is not none and build_range.through is not none %}
    where {{ visible }} < date {{ sql_literal(build_range.through) }}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The date from which a row of `table` is visible (none: the whole table from the first range). A row
    whose dates are all null becomes visible in the last range. -#}
{% macro build_range_visible_date(build_range, table) -%}
    {%- set columns = build_range.visible_from.get(table, []) -%}
    {%- if not columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set dates = [] -%}
    {%- for column in columns -%}
        {%- do dates.append('cast(' ~ adapter.quote(column) ~ ' as date)') -%}
    {%- endfor -%}
    {{ return('coalesce(greatest(' ~ dates | join(', ') ~ "), date '9999-12-31')") }}
{%- endmacro %}

{#- loaded_through minus `later` microseconds (a number or an SQL expression): the stamp of the rows of the
    range that has `later` ranges after it. -#}
{% macro build_range_stamp_before(build_range, later) -%}
    (cast({{ sql_literal(build_range.loaded_through) }} as timestamp) - to_microseconds({{ later }}))
{%- endmacro %}

{#- The stamp of the range being built. -#}
{% macro build_range_newest_stamp(build_range) -%}
    {%- set through = build_range.through -%}
    {%- set later = [] if through is none else build_range.starts | select('>=', through) | list -%}
    {{ build_range_stamp_before(build_range, later | length) }}
{%- endmacro %}

{#- A row's stamp: that of the range holding the date it becomes visible. -#}
{% macro build_range_stamp(build_range, visible) -%}
    {%- set later -%}
    {%- if visible is none -%}
        {{ build_range.starts | length }}
    {%- else -%}
        case
        {%- for start in build_range.starts | reverse %}
            when {{ visible }} >= date {{ sql_literal(start) }} then {{ loop.index0 }}
        {%- endfor %}
            else {{ build_range.starts | length }}
        end
    {%- endif -%}
    {%- endset -%}
    {{ build_range_stamp_before(build_range, later) }}
{%- endmacro %}
