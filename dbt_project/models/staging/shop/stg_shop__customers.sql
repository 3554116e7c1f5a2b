with

source as (
    select * from {{ source('shop', 'customers') }}
),

final as (
    select
        customer_id,
        signup_ts as signed_up_at,
        birth_year,
        gender,
        region,
        city_tier,
        occupation,
        household,
        acquisition_channel,
        member_tier,
        coalesce(consent_email, false) as has_consent_email,
        coalesce(consent_sms, false) as has_consent_sms,
        coalesce(consent_phone, false) as has_consent_phone,
        coalesce(consent_push, false) as has_consent_push,
        -- Whether the merchant's data says anything about consent (R13): without it the
        -- list still ranks the customer, who is never contacted (consent 'unknown').
        (
            consent_email is not null or consent_sms is not null
            or consent_phone is not null or consent_push is not null
        ) as has_consent_data,
        preferred_channel,
        preferred_contact_hour,
        coalesce(do_not_contact, false) as is_do_not_contact,
        coalesce(segment, 'b2c') as segment,
        timezone
    from source
)

select * from final
