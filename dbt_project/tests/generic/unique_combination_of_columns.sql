{#-
    Fails for every combination of `combination_of_columns` that occurs more
    than once in the model (a composite primary key check).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [ticker, trade_date]
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with grouped as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count,
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select * from grouped
    where row_count > 1
)

select * from final

{% endtest %}
