-- Receivables per customer per snapshot (R6, R22): how often and how late invoices due
-- by the as-of date were paid. An invoice unpaid at the as-of date counts as late by the
-- days it is overdue then; a payment after the as-of date is not yet visible.
-- Incremental by as-of date: builds only the snapshots int_snapshot_rebuild_dates flags.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_aggregates') }}
),

payments as (
    select * from {{ ref('stg_shop__payments') }}
),

history as (
    select
        snapshots.as_of_date,
        payments.customer_id,
        payments.paid_at is not null and payments.paid_at < snapshots.as_of_end_at as is_paid_by_as_of,
        greatest(
            {{ dbt.datediff(
                'payments.due_at',
                'case when payments.paid_at is not null and payments.paid_at < snapshots.as_of_end_at '
                ~ 'then payments.paid_at else snapshots.as_of_end_at end',
                'day'
            ) }},
            0
        ) as days_late
    from snapshots
    inner join payments
        on snapshots.as_of_end_at > payments.due_at
),

final as (
    select
        customer_id,
        as_of_date,
        count(*) as invoices_due,
        count(*) filter (where days_late > 0) as invoices_late,
        cast(count(*) filter (where days_late > 0) as double) / count(*) as late_invoice_share,
        avg(days_late) as avg_days_late,
        count(*) filter (where not is_paid_by_as_of) as invoices_overdue_open
    from history
    group by customer_id, as_of_date
)

select * from final
