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
        preferred_channel,
        preferred_contact_hour,
        coalesce(do_not_contact, false) as is_do_not_contact,
        coalesce(segment, 'b2c') as segment,
        timezone
    from source
)

select * from final
