-- R13 with the sender's log (issue 17): a customer who opted out or unsubscribed on a
-- channel (contact_log) no longer has that consent, from the next run on. The channel's
-- consent is the one the winback_channels seed names (a visit is arranged by phone, chat
-- reaches the customer through the app's push consent); a log row without a channel
-- withdraws every consent. Same columns as stg_shop__customers, which every reader of
-- consent uses this model instead of.
with

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

contact_log as (
    select * from {{ ref('stg_shop__contact_log') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

opt_outs as (
    select
        coalesce(contact_log.customer_id, orders.customer_id) as customer_id,
        max(case when contact_log.channel = 'email' or contact_log.channel is null then 1 else 0 end)
            as is_out_email,
        max(case when contact_log.channel = 'sms' or contact_log.channel is null then 1 else 0 end)
            as is_out_sms,
        max(
            case when contact_log.channel in ('phone', 'visit') or contact_log.channel is null then 1 else 0 end
        ) as is_out_phone,
        max(
            case when contact_log.channel in ('push', 'chat') or contact_log.channel is null then 1 else 0 end
        ) as is_out_push
    from contact_log
    left join orders
        on contact_log.order_id = orders.order_id
    where contact_log.contact_status in ('opted_out', 'unsubscribed')
    group by coalesce(contact_log.customer_id, orders.customer_id)
),

final as (
    select
        customers.customer_id,
        customers.signed_up_at,
        customers.birth_year,
        customers.gender,
        customers.region,
        customers.city_tier,
        customers.occupation,
        customers.household,
        customers.acquisition_channel,
        customers.member_tier,
        customers.has_consent_email and coalesce(opt_outs.is_out_email, 0) = 0 as has_consent_email,
        customers.has_consent_sms and coalesce(opt_outs.is_out_sms, 0) = 0 as has_consent_sms,
        customers.has_consent_phone and coalesce(opt_outs.is_out_phone, 0) = 0 as has_consent_phone,
        customers.has_consent_push and coalesce(opt_outs.is_out_push, 0) = 0 as has_consent_push,
        customers.has_consent_data,
        opt_outs.customer_id is not null as has_opted_out,
        customers.preferred_channel,
        customers.preferred_contact_hour,
        customers.is_do_not_contact,
        customers.segment,
        customers.timezone
    from customers
    left join opt_outs
        on customers.customer_id = opt_outs.customer_id
)

select * from final
