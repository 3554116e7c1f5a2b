-- The input digests of the last successful feature build (or nothing before the first).
{%- set string = dbt.type_string() %}
with

digests as (
    select * from {{ winback.source_or_empty('state', 'snapshot_input_digests', {
        'input_name': string,
        'input_scope': string,
        'affects_labels': 'boolean',
        'input_day': 'date',
        'row_count': 'bigint',
        'row_digest': 'decimal(38, 0)',
    }) }} as source_rows
),

final as (
    select
        cast(input_name as {{ string }}) as input_name,
        cast(input_scope as {{ string }}) as input_scope,
        cast(affects_labels as boolean) as affects_labels,
        cast(input_day as date) as input_day,
        cast(row_count as bigint) as row_count,
        cast(row_digest as decimal(38, 0)) as row_digest
    from digests
)

select * from final
