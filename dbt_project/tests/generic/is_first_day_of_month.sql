{#-
    Fails for every non-null value of a date column that is not the first
    day of its month (monthly data keyed by month_date).
-#}
{% test is_first_day_of_month(model, column_name) %}

with final as (
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is not null
        and {{ column_name }} != cast(date_trunc('month', {{ column_name }}) as date)
)

select * from final

{% endtest %}
