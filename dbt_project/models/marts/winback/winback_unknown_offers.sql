-- R8, R10: offer codes the merchant's campaign history (campaign_contacts) uses that the
-- offer catalogue in effect (stg_assumptions__offer_catalogue: the merchant's
-- offer_catalogue.csv or the shipped seed) does not know. The decisions cannot learn from
-- or offer them; once the merchant adds a code to the catalogue it leaves this report and
-- its history counts. Rebuilt whole from the history up to the as-of date.
with

contacts as (
    select * from {{ ref('int_campaign_contacts') }}
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

unknown_contacts as (
    select contacts.*
    from contacts
    left join catalogue
        on contacts.offer_code = catalogue.offer_code
    where
        contacts.offer_code is not null
        and catalogue.offer_code is null
        and cast(contacts.contacted_at as date) <= cast('{{ run_value('as_of_date') }}' as date)
),

final as (
    select
        offer_code,
        count(*) as contacts,
        count(*) filter (where contact_group = 'control') as control_contacts,
        count(distinct campaign_id) as campaigns,
        count(distinct customer_id) as customers,
        cast(min(contacted_at) as date) as first_contact_date,
        cast(max(contacted_at) as date) as last_contact_date
    from unknown_contacts
    group by offer_code
)

select * from final
