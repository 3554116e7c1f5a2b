-- R8, R10: every past campaign contact up to the as-of date (treatment and control;
-- control rows carry the offer they would have had), with the snapshot its customer's
-- reasons are read at: the latest snapshot on or before the contact. Read by
-- int_winback_reasons_scored (which snapshots to score) and
-- int_winback_offer_uplift_estimated (the contacts themselves).
with

contacts as (
    select * from {{ ref('stg_shop__campaign_contacts') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

final as (
    select
        contacts.contact_id,
        contacts.customer_id,
        contacts.offer_code,
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
        contacts.offer_code,
        coalesce(contacts.contact_group, 'treatment') = 'control',
        contacts.converted_order_id is not null
)

select * from final
