{#-
    Fails for every combination of `combination_of_columns` that occurs more
    than once in the model (a composite primary key check).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [ticker, trade_date]
                changed_rows_column: loaded_at   # optional

    What an incremental build writes is checked, against the whole table: on a
    model with an `inputs_loaded_through` column (the incremental models,
    macros/incremental.sql), or on the `changed_rows_column` given, only the
    keys of the newest rows (that column at its maximum: the rows the last
    build or load wrote) are counted, so the test costs what the new rows
    cost. Rows written earlier were checked when they were written; a full
    refresh checks every key, and the daily flow makes the build after a
    failed or interrupted run a full refresh (flows/daily.py), so a key left
    duplicated by a failed build is caught there.
-#}
{% test unique_combination_of_columns(model, combination_of_columns, changed_rows_column=none) %}

{%- set keys = combination_of_columns | join(', ') %}
{%- set scope_column = changed_rows_column %}
{%- if scope_column is none and tracks_changes(model) %}
    {%- set scope_column = 'inputs_loaded_through' %}
{%- endif %}
{%- if flags.FULL_REFRESH %}
    {%- set scope_column = none %}
{%- endif %}

with
{%- if scope_column %}
newest_keys as (
    select distinct {{ keys }}
    from {{ model }}
    where {{ scope_column }} = (select max({{ scope_column }}) from {{ model }})
),

checked as (
    select {{ keys }}
    from {{ model }}
    semi join newest_keys using ({{ keys }})
),
{%- else %}
checked as (
    select {{ keys }}
    from {{ model }}
),
{%- endif %}

grouped as (
    select
        {{ keys }},
        count(*) as row_count,
    from checked
    group by {{ keys }}
),

final as (
    select * from grouped
    where row_count > 1
)

select * from final

{% endtest %}
