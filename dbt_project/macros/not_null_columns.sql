{#- Generic test: none of `columns` is null, checked in one scan of the model (a table
    with a dozen required columns gets one query, not a dozen). Fails with one row per
    column that has nulls, naming it:
        data_tests:
          - winback.not_null_columns:
              arguments:
                columns: [order_id, customer_id, remind_at]
-#}
{% test not_null_columns(model, columns) %}
    with null_counts as (
        select
            {%- for column in columns %}
            sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ model }}
    )

    {% for column in columns -%}
        select
            '{{ column }}' as column_name,
            {{ column }} as null_rows
        from null_counts
        where {{ column }} > 0
        {{ 'union all' if not loop.last }}
    {% endfor %}
{% endtest %}
