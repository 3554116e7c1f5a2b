with

source as (
    select * from {{ source('shop', 'order_items') }}
),

final as (
    select
        order_id,
        product_id,
        coalesce(quantity, 1) as quantity,
        unit_price,
        _row_number as order_item_number
    from source
)

select * from final
