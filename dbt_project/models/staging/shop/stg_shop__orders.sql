with

source as (
    select * from {{ source('shop', 'orders') }}
),

final as (
    select
        order_id,
        customer_id,
        order_ts as ordered_at,
        amount,
        coalesce(status, 'paid') as order_status,
        paid_ts as paid_at,
        coalesce(source, 'own') as order_source,
        coalesce(flash_sale, false) as is_flash_sale,
        pay_deadline_ts as pay_deadline_at,
        coalesce(discount_amount, 0) as discount_amount,
        coalesce(shipping_fee, 0) as shipping_fee,
        -- A purchase is an order that was paid and not refunded (label of R1).
        coalesce(status, 'paid') in ('paid', 'shipped', 'delivered') as is_purchase
    from source
)

select * from final
