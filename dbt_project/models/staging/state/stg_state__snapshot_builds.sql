-- The snapshots the last successful feature build left, with their flags (or nothing
-- before the first one).
with

builds as (
    select * from {{ winback.source_or_empty('state', 'snapshot_builds', {
        'as_of_date': 'date',
        'is_label_observed': 'boolean',
        'is_scoring_snapshot': 'boolean',
    }) }} as source_rows
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(is_label_observed as boolean) as is_label_observed,
        cast(is_scoring_snapshot as boolean) as is_scoring_snapshot
    from builds
)

select * from final
