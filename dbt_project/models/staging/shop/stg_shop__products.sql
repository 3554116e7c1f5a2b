with

source as (
    select * from {{ source('shop', 'products') }}
),

final as (
    select
        product_id,
        category,
        coalesce(is_essential, false) as is_essential,
        style_tag,
        unit_cost
    from source
)

select * from final
