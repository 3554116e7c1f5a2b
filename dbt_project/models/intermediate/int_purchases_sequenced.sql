-- Each purchase with the gap since the customer's previous purchase. The gap of a
-- purchase uses only earlier purchases, so it is safe to use at any later as-of date.
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

purchases as (
    select
        order_id,
        customer_id,
        ordered_at,
        amount
    from orders
    where is_purchase
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        amount,
        row_number() over (partition by customer_id order by ordered_at, order_id) as purchase_number,
        date_diff(
            'day',
            lag(ordered_at) over (partition by customer_id order by ordered_at, order_id),
            ordered_at
        ) as gap_days
    from purchases
)

select * from final
