with

source as (
    select * from {{ source('shop', 'tickets') }}
),

final as (
    select
        ticket_id,
        customer_id,
        order_id,
        opened_ts as opened_at,
        closed_ts as closed_at,
        coalesce(kind, 'other') as ticket_kind,
        coalesce(resolved, closed_ts is not null) as is_resolved,
        satisfaction
    from source
)

select * from final
