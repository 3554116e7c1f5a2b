with

source as (
    select * from {{ source('shop', 'payments') }}
),

final as (
    select
        invoice_id,
        customer_id,
        order_id,
        due_ts as due_at,
        paid_ts as paid_at,
        amount
    from source
)

select * from final
