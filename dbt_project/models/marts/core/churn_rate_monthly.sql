-- R2: the merchant's own churn rate per month, so it learns its norm (reference: B2C ~6.5%,
-- B2B ~3.8% a month). A customer is active while their last purchase is at most
-- `horizon_days` old: they lapse on the day it becomes older, and return with their next
-- purchase. churn_rate = lapses in the month / customers active at its start.
with

purchases as (
    select * from {{ ref('int_orders_enriched') }}
    where is_purchase
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

params as (
    select
        cast('{{ run_value('as_of_date') }}' as date) as run_as_of_date,
        {{ var("horizon_days") }} as horizon_days
),

purchase_days as (
    select distinct
        customer_id,
        cast(ordered_at as date) as purchase_date
    from purchases
),

sequenced as (
    select
        customer_id,
        purchase_date,
        lead(purchase_date) over (partition by customer_id order by purchase_date) as next_purchase_date,
        row_number() over (partition by customer_id order by purchase_date) as purchase_number
    from purchase_days
),

movements as (
    -- first purchase: a new active customer
    select
        customer_id,
        purchase_date as movement_date,
        'new' as movement
    from sequenced
    where purchase_number = 1
    union all
    -- the day the last purchase becomes older than the horizon: a lapse
    select
        sequenced.customer_id,
        cast({{ dbt.dateadd('day', 'params.horizon_days + 1', 'sequenced.purchase_date') }} as date)
            as movement_date,
        'lapse' as movement
    from sequenced
    cross join params
    where
        sequenced.next_purchase_date is null
        or {{ dbt.datediff('sequenced.purchase_date', 'sequenced.next_purchase_date', 'day') }}
        > params.horizon_days
    union all
    -- a purchase after a lapse: a return
    select
        sequenced.customer_id,
        sequenced.next_purchase_date as movement_date,
        'return' as movement
    from sequenced
    cross join params
    where {{ dbt.datediff('sequenced.purchase_date', 'sequenced.next_purchase_date', 'day') }} > params.horizon_days
),

segmented as (
    select
        movements.movement,
        cast({{ dbt.date_trunc('month', 'movements.movement_date') }} as date) as month_start,
        coalesce(customers.segment, 'b2c') as segment
    from movements
    cross join params
    left join customers
        on movements.customer_id = customers.customer_id
    where movements.movement_date <= params.run_as_of_date
),

both_segments as (
    select
        month_start,
        segment,
        movement
    from segmented
    union all
    select
        month_start,
        'all' as segment,
        movement
    from segmented
),

monthly as (
    select
        month_start,
        segment,
        count(*) filter (where movement = 'new') as new_customers,
        count(*) filter (where movement = 'lapse') as lapses,
        count(*) filter (where movement = 'return') as returning_customers,
        count(*) filter (where movement in ('new', 'return'))
        - count(*) filter (where movement = 'lapse') as net_change
    from both_segments
    group by month_start, segment
),

running as (
    select
        *,
        coalesce(
            sum(net_change) over (
                partition by segment order by month_start
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as active_at_start
    from monthly
),

final as (
    select
        running.month_start,
        running.segment,
        cast(running.active_at_start as bigint) as active_at_start,
        running.new_customers,
        running.returning_customers,
        running.lapses,
        cast(running.active_at_start + running.net_change as bigint) as active_at_end,
        cast(running.lapses as double) / nullif(running.active_at_start, 0) as churn_rate,
        cast({{ dbt.dateadd('month', '1', 'running.month_start') }} as date) <= params.run_as_of_date
            as is_complete_month
    from running
    cross join params
)

select * from final
