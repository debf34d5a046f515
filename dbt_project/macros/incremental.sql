{#-
    Helpers of the incremental models. Which inputs each model watches is
    decided once per boundary in macros/incremental_boundaries.sql; this file
    holds the mechanics every boundary uses.

    Change detection. Every row of an incremental model carries
    `inputs_loaded_through`: the newest raw `loaded_at` among the model's
    inputs when the row was built. An incremental build recomputes every row
    dated on or after the earliest date touched by a raw row loaded after the
    model's newest `inputs_loaded_through` (a new day, a revised price, a
    late FX fixing, a CPI print, a fundamental); rows before it are kept.
    Nothing loaded since -> nothing recomputed. In a whole build in date ranges
    (macros/build_range.sql) the stamp is the current range's: what this build has seen.

    inputs: a list of (relation, date column) pairs; the date column is the
    earliest date of the model that the raw row can affect.
-#}
{% macro inputs_loaded_through(inputs) -%}
    {%- set build_range = var('build_range', none) -%}
    {%- if build_range is not none -%}
    {{ build_range_newest_stamp(build_range) }}
    {%- else -%}
    greatest(
        {%- for relation, date_column in inputs %}
        (select max(loaded_at) from {{ relation }}){{ "," if not loop.last }}
        {%- endfor %}
    )
    {%- endif -%}
{%- endmacro %}

{#- `left.key = right.key and ...` for every key: the correlated condition of a delete that keeps or removes
    a table's rows by whether another relation holds their key (an anti- or semi-join, never a join that
    pairs every row of a key with every other). -#}
{% macro keys_match(keys, left, right) -%}
    {%- for key in keys %}{{ left }}.{{ key }} = {{ right }}.{{ key }}{{ " and " if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- The names of `relation`'s columns (none when it does not exist). -#}
{% macro column_names(relation) -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | list) }}
{%- endmacro %}

{#- True when `relation` exists and carries change tracking (an `inputs_loaded_through` column). -#}
{% macro tracks_changes(relation) -%}
    {{ return(execute and 'inputs_loaded_through' in column_names(relation)) }}
{%- endmacro %}

{#- A row's predicate: loaded after this table's last build (a raw row by its `loaded_at`; an upstream
    model's row by its own `inputs_loaded_through`: built from a load after this table's last build). -#}
{% macro loaded_since_last_build(column='loaded_at') -%}
    {{ column }} > (select max(inputs_loaded_through) from {{ this }})
{%- endmacro %}

{% macro recompute_from(inputs) -%}
    (
        select least(
            {%- for relation, date_column in inputs %}
            (
                select min({{ date_column }}) from {{ relation }}
                where {{ loaded_since_last_build() }}
            ){{ "," if not loop.last }}
            {%- endfor %}
        )
    )
{%- endmacro %}

{#-
    Exact, order-independent sums. A float sum depends on the order DuckDB
    combines partial sums, which differs between a full build and an
    incremental one, between thread counts, and between window positions.
    `fixed_point(x)` scales x by 2^100 (exact for a double: only the exponent
    moves) and rounds it to a HUGEINT, which holds every bit of x down to
    2^-100; sums of those integers are exact, so `from_fixed_point(sum(...))`
    is the correctly rounded exact sum of the doubles, the same on every
    build. Range: |sum| < 2^27 (1.3e8), ample for returns, their squares and
    products, and log levels. For larger magnitudes pass fewer `bits`: with
    bits=40, |sum| < 2^87 and every double of magnitude 2^13 or more is held
    exactly (market capitalisations in USD). DuckDB raises an error on a
    value or a sum out of range; nothing is silently wrong.
    Unlike an aggregate ordered by a key (`sum(x order by ticker)`, the
    other way to get the same bits), these sums spill: DuckDB keeps an
    ordered aggregate's rows in memory.
-#}
{% macro fixed_point(expression, bits=100) -%}
    cast(round(({{ expression }}) * pow(2.0, {{ bits }})) as hugeint)
{%- endmacro %}

{% macro from_fixed_point(expression, bits=100) -%}
    (cast({{ expression }} as double) / pow(2.0, {{ bits }}))
{%- endmacro %}

{#- The exact, order-independent sum of a double expression (see fixed_point). -#}
{% macro exact_sum(expression, bits=100) -%}
    {{ from_fixed_point('sum(' ~ fixed_point(expression, bits) ~ ')', bits) }}
{%- endmacro %}

{#-
    The distinct non-null values of a text column in a group, sorted and
    joined with ',' (lineage columns such as data_source and load_id). The
    same text as string_agg(distinct x, ',' order by x), without an ordered
    aggregate, which DuckDB holds in memory.
-#}
{% macro distinct_values(column) -%}
    array_to_string(list_sort(list(distinct {{ column }}) filter (where {{ column }} is not null)), ',')
{%- endmacro %}

{#-
    The start of an incremental build, computed when the model runs (a query
    against the inputs and this table): the earliest date to recompute;
    9999-12-31 when nothing was loaded since the last build; 0001-01-01
    (everything) on a full build and when the existing table predates change
    tracking (it has no inputs_loaded_through column).
    recompute_start(inputs): that date (a Python date; the boundaries' *_start
    macros call it); date_literal(start, days_before=n): it as a SQL date
    literal, moved n days earlier (the context a rolling window needs) unless
    it is one of the two bounds. A literal, not a subquery, so DuckDB pushes
    the filter below joins (an ASOF join in particular) and into the scans.
-#}
{% macro recompute_start(inputs) -%}
    {%- if is_incremental() and tracks_changes(this) -%}
        {%- set start = run_query('select ' ~ recompute_from(inputs)).columns[0].values()[0] -%}
        {{ return(modules.datetime.date(9999, 12, 31) if start is none else start) }}
    {%- endif -%}
    {{ return(modules.datetime.date(1, 1, 1)) }}
{%- endmacro %}

{% macro date_literal(start, days_before=0) -%}
    {%- if days_before and 1 < start.year < 9999 -%}
        {%- set start = start - modules.datetime.timedelta(days=days_before) -%}
    {%- endif -%}
    date '{{ start.isoformat()[:10] }}'
{%- endmacro %}

{#-
    The least-squares slope of y on x from a count and sums (n, Σx, Σy, Σx², Σxy; each a double from an
    exact sum): (nΣxy - ΣxΣy) / (nΣx² - (Σx)²), null when every x is the same.
-#}
{% macro slope_from_sums(count, sum_x, sum_y, sum_xx, sum_xy) -%}
    (
        cast({{ count }} as double) * {{ sum_xy }} - {{ sum_x }} * {{ sum_y }}
    ) / nullif(cast({{ count }} as double) * {{ sum_xx }} - {{ sum_x }} ^ 2, 0)
{%- endmacro %}

{#- Sample standard deviation from a count, an exact sum and an exact sum of squares (doubles). -#}
{% macro stddev_from_sums(count, total, total_squares) -%}
    sqrt(greatest(0, (
        cast({{ count }} as double) * {{ total_squares }} - {{ total }} ^ 2
    ) / (cast({{ count }} as double) * (cast({{ count }} as double) - 1))))
{%- endmacro %}
