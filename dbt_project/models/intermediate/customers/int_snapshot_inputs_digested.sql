-- What the snapshot-grained models read, digested per input and day (issue 19): a row
-- count and the exact sum of a hash of every column of every row. Comparing them with the
-- digests of the last feature build (stg_state__snapshot_input_digests) finds the days
-- with late or corrected rows, and int_snapshot_rebuild_dates the snapshots they change.
-- A row is dated by the first day a snapshot can see it: an order by its order time (its
-- payment, refund and the gap it starts are all read from that day on), an event, ticket,
-- invoice and contact by their own time, a customer's profile by their first order
-- (customers without orders are in no snapshot: dated 9999-12-31).
with

first_orders as (
    select
        customer_id,
        cast(min(ordered_at) as date) as first_order_date
    from {{ ref('stg_shop__orders') }}
    group by customer_id
),

customers_dated as (
    select
        customers.*,
        coalesce(first_orders.first_order_date, cast('9999-12-31' as date)) as input_day
    from {{ ref('stg_shop__customers') }} as customers
    left join first_orders
        on customers.customer_id = first_orders.customer_id
),

profiles as (
    select
        'customers' as input_name,
        'profile' as input_scope,
        false as affects_labels,
        customers_dated.input_day,
        count(*) as row_count,
        {{ winback.rows_digest(ref('stg_shop__customers'), 'customers_dated') }} as row_digest
    from customers_dated
    group by customers_dated.input_day
),

final as (
    {{ winback.digest_by_day('orders', 'history', 'true', ref('int_orders_enriched'), 'input_rows.ordered_at') }}
    union all
    {{ winback.digest_by_day('events', 'history', 'false', ref('stg_shop__events'), 'input_rows.occurred_at') }}
    union all
    {{ winback.digest_by_day('tickets', 'history', 'false', ref('stg_shop__tickets'), 'input_rows.opened_at') }}
    union all
    {{ winback.digest_by_day('invoices', 'history', 'false', ref('stg_shop__payments'), 'input_rows.due_at') }}
    union all
    {{ winback.digest_by_day('contacts', 'history', 'false', ref('int_campaign_contacts'), 'input_rows.contacted_at') }}
    union all
    select * from profiles
)

select * from final
