-- Every campaign contact the product learns from (issue 17): the merchant's
-- campaign_contacts and the win-back contacts Winback exported with their campaigns'
-- control groups (a contact the merchant's file already holds, by its key, counts once,
-- as the merchant's). An exported contact converted when the customer made a purchase
-- within the attribution window after it (setting response.window_days), the first such
-- order, as campaign_contacts' converted_order_id is defined; only orders up to the as-of
-- day are loaded, so a recent contact may still convert. A list's export becomes history
-- for the runs of later as-of dates (a rerun of its own date gives the same list).
{%- set window_hours = (var('winback_attribution_window_days') * 24) | round | int %}

with

merchant as (
    select * from {{ ref('stg_shop__campaign_contacts') }}
),

exported as (
    select * from {{ ref('stg_history__exported_contacts') }}
    where exported_as_of_date < cast('{{ winback.run_value("as_of_date") }}' as date)
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
    where is_purchase
),

new_exported as (
    select exported.*
    from exported
    left join merchant
        on exported.contact_id = merchant.contact_id
    where merchant.contact_id is null
),

attributed as (
    select
        new_exported.contact_id,
        min(orders.ordered_at) as first_order_at
    from new_exported
    inner join orders
        on
            new_exported.customer_id = orders.customer_id
            and new_exported.contacted_at <= orders.ordered_at
            and new_exported.contacted_at + {{ winback.interval_hours(window_hours) }} > orders.ordered_at
    group by new_exported.contact_id
),

converted as (
    select
        attributed.contact_id,
        min(orders.order_id) as converted_order_id
    from attributed
    inner join new_exported
        on attributed.contact_id = new_exported.contact_id
    inner join orders
        on
            new_exported.customer_id = orders.customer_id
            and attributed.first_order_at = orders.ordered_at
    group by attributed.contact_id
),

final as (
    select
        contact_id,
        customer_id,
        campaign_id,
        contacted_at,
        channel,
        offer_code,
        contact_group,
        contact_step,
        converted_order_id,
        'merchant' as contact_source
    from merchant
    union all
    select
        new_exported.contact_id,
        new_exported.customer_id,
        new_exported.campaign_id,
        new_exported.contacted_at,
        new_exported.channel,
        new_exported.offer_code,
        new_exported.contact_group,
        new_exported.contact_step,
        converted.converted_order_id,
        'winback' as contact_source
    from new_exported
    left join converted
        on new_exported.contact_id = converted.contact_id
)

select * from final
