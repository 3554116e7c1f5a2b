-- The training label per customer per labelled snapshot: purchases (paid, not refunded)
-- placed within (as_of, as_of + horizon]. Only snapshots whose horizon lies wholly
-- before the run's as-of date are labelled; a missing row means no purchase in it.
-- Incremental by as-of date: builds only the snapshots int_snapshot_rebuild_dates flags.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_labels') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

final as (
    select
        snapshots.as_of_date,
        orders.customer_id,
        count(*) as purchases_in_horizon
    from snapshots
    inner join orders
        on
            snapshots.as_of_end_at <= orders.ordered_at
            and snapshots.horizon_end_at > orders.ordered_at
    where snapshots.is_label_observed and orders.is_purchase
    group by snapshots.as_of_date, orders.customer_id
)

select * from final
