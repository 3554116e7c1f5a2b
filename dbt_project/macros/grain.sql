{#- Generic test: at most one row per combination of `columns` (a model's grain).
        data_tests:
          - winback.grain:
              arguments:
                columns: [customer_id, as_of_date]
    A snapshot-grained incremental model passes `rebuilt:` the int_snapshot_rebuild_dates
    flag that says which snapshots a build computes (e.g. rebuild_aggregates): the test
    then checks those snapshots only (every one on a first or full build). The grain
    includes the as-of date, so no key spans two snapshots, and a kept snapshot's rows are
    those its own build tested (issue 19: a second night at 1M customers spent ~6 s
    grouping the 11 kept snapshots again).
-#}
{% test grain(model, columns, rebuilt=none) %}
    select
        {{ columns | join(', ') }},
        count(*) as rows_per_key
    from {{ model }}
    {%- if rebuilt %}
        where as_of_date in (
            select as_of_date from {{ ref('int_snapshot_rebuild_dates') }} where {{ rebuilt }}
        )
    {%- endif %}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
