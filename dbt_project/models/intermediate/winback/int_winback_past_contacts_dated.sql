-- R8, R10: every past campaign contact up to the as-of date (treatment and control;
-- control rows carry the offer they would have had and channel 'none'), with the
-- snapshot its customer's reasons and features are read at: the latest snapshot on or
-- before the contact. Read by int_winback_reasons_scored (which snapshots to score) and
-- int_winback_response_history (what the response model learns from).
with

contacts as (
    select * from {{ ref('int_campaign_contacts') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

final as (
    select
        contacts.contact_id,
        contacts.customer_id,
        contacts.campaign_id,
        cast(contacts.contacted_at as date) as contact_date,
        coalesce(contacts.contact_step, 1) as step,
        contacts.offer_code,
        case
            when coalesce(contacts.contact_group, 'treatment') = 'control' then 'none'
            else coalesce(contacts.channel, 'unknown')
        end as channel,
        coalesce(contacts.contact_group, 'treatment') = 'control' as is_control,
        contacts.converted_order_id is not null as is_converted,
        max(snapshots.as_of_date) as reason_as_of_date
    from contacts
    inner join snapshots
        on cast(contacts.contacted_at as date) >= snapshots.as_of_date
    where
        contacts.offer_code is not null
        and cast(contacts.contacted_at as date) <= cast('{{ run_value('as_of_date') }}' as date)
    group by
        contacts.contact_id,
        contacts.customer_id,
        contacts.campaign_id,
        cast(contacts.contacted_at as date),
        coalesce(contacts.contact_step, 1),
        contacts.offer_code,
        case
            when coalesce(contacts.contact_group, 'treatment') = 'control' then 'none'
            else coalesce(contacts.channel, 'unknown')
        end,
        coalesce(contacts.contact_group, 'treatment') = 'control',
        contacts.converted_order_id is not null
)

select * from final
