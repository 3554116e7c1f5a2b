-- Service history per customer per snapshot (R7): disputes by kind, and whether they
-- were resolved by the end of the as-of day (a ticket closed later was still open then).
-- Incremental by as-of date: builds only the snapshots int_snapshot_rebuild_dates flags.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_aggregates') }}
),

tickets as (
    select * from {{ ref('stg_shop__tickets') }}
),

history as (
    select
        snapshots.as_of_date,
        tickets.customer_id,
        tickets.ticket_kind,
        tickets.satisfaction,
        tickets.is_resolved
        and tickets.closed_at is not null
        and tickets.closed_at < snapshots.as_of_end_at as is_resolved_by_as_of,
        {{ dbt.datediff('cast(tickets.opened_at as date)', 'snapshots.as_of_date', 'day') }} as days_before_as_of
    from snapshots
    inner join tickets
        on snapshots.as_of_end_at > tickets.opened_at
),

final as (
    select
        customer_id,
        as_of_date,
        count(*) as tickets_lifetime,
        count(*) filter (where days_before_as_of < 365) as tickets_365d,
        count(*) filter (where ticket_kind = 'product') as disputes_product,
        count(*) filter (where ticket_kind = 'logistics') as disputes_logistics,
        count(*) filter (where ticket_kind = 'attitude') as disputes_attitude,
        count(*) filter (where ticket_kind = 'price') as disputes_price,
        count(*) filter (where not is_resolved_by_as_of) as open_tickets,
        count(*) filter (where ticket_kind = 'product' and not is_resolved_by_as_of) as unresolved_product,
        count(*) filter (
            where ticket_kind = 'logistics' and not is_resolved_by_as_of
        ) as unresolved_logistics,
        count(*) filter (
            where ticket_kind = 'attitude' and not is_resolved_by_as_of
        ) as unresolved_attitude,
        count(*) filter (where ticket_kind = 'price' and not is_resolved_by_as_of) as unresolved_price,
        min(days_before_as_of) as days_since_ticket,
        avg(satisfaction) as avg_ticket_satisfaction
    from history
    group by customer_id, as_of_date
)

select * from final
