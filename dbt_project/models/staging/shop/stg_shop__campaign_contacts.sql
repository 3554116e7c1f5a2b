with

source as (
    select * from {{ source('shop', 'campaign_contacts') }}
),

final as (
    select
        contact_id,
        customer_id,
        campaign_id,
        contact_ts as contacted_at,
        channel,
        offer_code,
        {{ adapter.quote('group') }} as contact_group,
        step as contact_step,
        converted_order_id
    from source
)

select * from final
