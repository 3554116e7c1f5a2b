{#- A source table the product's Python writes when the merchant provides it (the merchant's
    assumption files, winback/assumptions.py), or, when it does not exist, the node that
    holds the shipped default (a seed). Only staging models call it (only staging reads
    sources); a removed file drops its table, so the next build reads the default again:
        from {{ winback.source_or_ref('assumptions', 'offer_catalogue', 'winback_offer_catalogue') }}
    Both the source and the ref are always called, so dbt's graph knows both parents.
-#}
{% macro source_or_ref(source_name, table_name, default_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set default = ref(default_name) -%}
    {%- set found = execute and adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier
    ) is not none -%}
    {%- if found -%}
        {{ relation }}
    {%- else -%}
        {{ default }}
    {%- endif -%}
{%- endmacro %}
