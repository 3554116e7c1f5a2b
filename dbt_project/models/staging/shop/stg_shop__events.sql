with

source as (
    select * from {{ source('shop', 'events') }}
),

final as (
    select
        event_id,
        customer_id,
        event_ts as occurred_at,
        event_type,
        ref_id,
        cast(value as double) as event_value
    from source
)

select * from final
