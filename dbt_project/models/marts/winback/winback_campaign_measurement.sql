-- R10: what past campaigns achieved, per campaign and offer: conversion (a paid order
-- within the attribution window, campaign_contacts.converted_order_id) of the contacted
-- group against the control group that was held out, with the uplift and its 95%
-- confidence interval (Newcombe's hybrid score interval from two Wilson intervals, which
-- stays inside [-1, 1] and behaves with few conversions).
with

contacts as (
    select * from {{ ref('int_campaign_contacts') }}
),

grouped as (
    select
        campaign_id,
        coalesce(offer_code, 'unknown') as offer_code,
        count(*) filter (where coalesce(contact_group, 'treatment') <> 'control') as treated_contacts,
        count(*) filter (
            where coalesce(contact_group, 'treatment') <> 'control' and converted_order_id is not null
        ) as treated_conversions,
        count(*) filter (where contact_group = 'control') as control_contacts,
        count(*) filter (where contact_group = 'control' and converted_order_id is not null)
            as control_conversions,
        cast(min(contacted_at) as date) as first_contact_date,
        cast(max(contacted_at) as date) as last_contact_date
    from contacts
    where cast(contacted_at as date) <= cast('{{ run_value('as_of_date') }}' as date)
    group by campaign_id, coalesce(offer_code, 'unknown')
),

rates as (
    select
        *,
        treated_conversions / nullif(treated_contacts, 0) as treated_rate,
        control_conversions / nullif(control_contacts, 0) as control_rate
    from grouped
),

-- Wilson score interval per group (z = 1.96).
wilson as (
    select
        *,
        (
            treated_rate + 1.9208 / treated_contacts
            - 1.96 * sqrt(treated_rate * (1 - treated_rate) / treated_contacts + 0.9604 / power(treated_contacts, 2))
        )
        / (1 + 3.8416 / treated_contacts) as treated_low,
        (
            treated_rate + 1.9208 / treated_contacts
            + 1.96 * sqrt(treated_rate * (1 - treated_rate) / treated_contacts + 0.9604 / power(treated_contacts, 2))
        )
        / (1 + 3.8416 / treated_contacts) as treated_high,
        (
            control_rate + 1.9208 / control_contacts
            - 1.96 * sqrt(control_rate * (1 - control_rate) / control_contacts + 0.9604 / power(control_contacts, 2))
        )
        / (1 + 3.8416 / control_contacts) as control_low,
        (
            control_rate + 1.9208 / control_contacts
            + 1.96 * sqrt(control_rate * (1 - control_rate) / control_contacts + 0.9604 / power(control_contacts, 2))
        )
        / (1 + 3.8416 / control_contacts) as control_high
    from rates
),

final as (
    select
        campaign_id,
        offer_code,
        first_contact_date,
        last_contact_date,
        treated_contacts,
        treated_conversions,
        control_contacts,
        control_conversions,
        treated_rate as treated_conversion_rate,
        control_rate as control_conversion_rate,
        treated_rate - control_rate as uplift,
        treated_rate - control_rate
        - sqrt(power(treated_rate - treated_low, 2) + power(control_high - control_rate, 2)) as uplift_ci_low,
        treated_rate - control_rate
        + sqrt(power(treated_high - treated_rate, 2) + power(control_rate - control_low, 2)) as uplift_ci_high,
        coalesce(
            treated_rate - control_rate
            - sqrt(power(treated_rate - treated_low, 2) + power(control_high - control_rate, 2)) > 0,
            false
        ) as is_uplift_significant
    from wilson
)

select * from final
