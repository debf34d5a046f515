{#-
    Helpers of the incremental models (int_daily_returns,
    int_performance_series, relative_performance).

    Change detection. Every row of an incremental model carries
    `inputs_loaded_through`: the newest raw `loaded_at` among the model's
    inputs when the row was built. An incremental build recomputes every row
    dated on or after the earliest date touched by a raw row loaded after the
    model's newest `inputs_loaded_through` (a new day, a revised price, a
    late FX fixing, a CPI print, a fundamental); rows before it are kept.
    Nothing loaded since -> nothing recomputed.

    inputs: a list of (relation, date column) pairs; the date column is the
    earliest date of the model that the raw row can affect.
-#}
{% macro inputs_loaded_through(inputs) -%}
    greatest(
        {%- for relation, date_column in inputs %}
        (select max(loaded_at) from {{ relation }}){{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro recompute_from(inputs) -%}
    (
        select least(
            {%- for relation, date_column in inputs %}
            (
                select min({{ date_column }}) from {{ relation }}
                where loaded_at > (select max(inputs_loaded_through) from {{ this }})
            ){{ "," if not loop.last }}
            {%- endfor %}
        )
    )
{%- endmacro %}

{#-
    Exact, order-independent sums for windowed statistics. A float sum
    depends on the order DuckDB combines partial sums, which differs between a
    full build and an incremental one (and between thread counts). Sums of
    fixed-point integers (HUGEINT) do not: `fixed_point(x)` is x rounded to
    1e-15 (returns are ~1e-2, so ~13 significant digits), and every windowed
    sum over it is exact. Statistics are then computed from exact sums, so a
    full rebuild and any sequence of incremental builds give the same bits.
-#}
{% macro fixed_point(expression) -%}
    cast(round(({{ expression }}) * 1e15) as hugeint)
{%- endmacro %}

{% macro from_fixed_point(expression, power=1) -%}
    (cast({{ expression }} as double) / {{ '1e15' if power == 1 else '1e30' }})
{%- endmacro %}

{#-
    The start of an incremental build as a CTE body: the earliest date to
    recompute, or 0001-01-01 (everything) on a full build and when the
    existing table predates change tracking (it has no
    inputs_loaded_through column yet).
-#}
{% macro recompute_window(inputs) -%}
    {%- if is_incremental() and 'inputs_loaded_through' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
        select {{ recompute_from(inputs) }} as recompute_from
    {%- else -%}
        select date '0001-01-01' as recompute_from
    {%- endif -%}
{%- endmacro %}

{#- Sample standard deviation from the exact count, sum and sum of squares of fixed-point values. -#}
{% macro fixed_point_stddev(count, total, total_squares) -%}
    (
        sqrt(greatest(0, (
            cast({{ count }} as double) * cast({{ total_squares }} as double) - cast({{ total }} as double) ^ 2
        ) / (cast({{ count }} as double) * (cast({{ count }} as double) - 1))) ) / 1e15
    )
{%- endmacro %}
