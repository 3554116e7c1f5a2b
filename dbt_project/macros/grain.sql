{#- Generic test: at most one row per combination of `columns` (a model's grain).
        data_tests:
          - winback.grain:
              arguments:
                columns: [customer_id, as_of_date]
-#}
{% test grain(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as rows_per_key
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
