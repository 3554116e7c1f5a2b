-- Every order with what the features need: purchase flags, the gap since the customer's
-- previous purchase (which uses only earlier purchases, so it is point-in-time safe),
-- payment delay and the split of the basket into necessary and discretionary spend (R3).
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

basket_split as (
    select
        order_items.order_id,
        sum(
            case when products.is_essential then order_items.quantity * order_items.unit_price else 0 end
        ) as essential_amount,
        sum(
            case
                when not products.is_essential then order_items.quantity * order_items.unit_price else 0
            end
        ) as discretionary_amount
    from order_items
    inner join products
        on order_items.product_id = products.product_id
    group by order_items.order_id
),

purchase_gaps as (
    select
        order_id,
        row_number() over (partition by customer_id order by ordered_at, order_id) as purchase_number,
        {{ dbt.datediff(
            'cast(lag(ordered_at) over (partition by customer_id order by ordered_at, order_id) as date)',
            'cast(ordered_at as date)',
            'day'
        ) }} as gap_days
    from orders
    where is_purchase
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.paid_at,
        orders.amount,
        orders.discount_amount,
        orders.order_status,
        orders.order_source,
        orders.is_purchase,
        orders.order_status = 'refunded' as is_refunded,
        orders.order_status in ('closed', 'cancelled') and orders.paid_at is null as is_abandoned_unpaid,
        orders.discount_amount > 0 as is_discounted,
        purchase_gaps.purchase_number,
        purchase_gaps.gap_days,
        cast({{ winback.minutes_between('orders.ordered_at', 'orders.paid_at') }} as double) / 60 as pay_delay_hours,
        -- whole minutes: sums of them are exact, so averages do not depend on thread order
        cast({{ winback.minutes_between('orders.ordered_at', 'orders.paid_at') }} as bigint) as pay_delay_minutes,
        basket_split.essential_amount,
        basket_split.discretionary_amount
    from orders
    left join purchase_gaps
        on orders.order_id = purchase_gaps.order_id
    left join basket_split
        on orders.order_id = basket_split.order_id
)

select * from final
