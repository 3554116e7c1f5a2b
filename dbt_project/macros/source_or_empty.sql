{#- A source table that the product's Python writes between dbt runs (tonight's scores, the
    reminder ledger and texts), or, before it first does, an empty relation with the given
    columns, so that a plain `dbt build` on a fresh warehouse still works. Only staging
    models call it (only staging reads sources):
        from {{ winback.source_or_empty('reminders', 'reminder_ledger', {'order_id': dbt.type_string()}) }} as ledger
-#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = execute and adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier
    ) is not none -%}
    {%- if found -%}
        {{ relation }}
    {%- else -%}
        (select
            {%- for name, data_type in columns.items() %}
            cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
            {%- endfor %}
        where 1 = 0)
    {%- endif -%}
{%- endmacro %}
