-- The discount caps per value tier in effect (R9): the merchant's discount_caps.csv when
-- given, else the shipped seed.
with

source as (
    select * from {{ winback.source_or_ref('assumptions', 'discount_caps', 'winback_discount_caps') }}
),

final as (
    select
        cast(value_tier as integer) as value_tier,
        cast(max_discount_depth as double) as max_discount_depth
    from source
)

select * from final
