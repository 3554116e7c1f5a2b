-- R11: the channels each candidate may be contacted through (consent given, R13; every
-- channel, for valuing only, when the data has no consent at all), best
-- first: an account manager's visit for B2B accounts of tier 1; a call for tiers 1-2 and
-- B2B; then the customer's preferred channel; then email, push, SMS, phone. Customers of
-- 55 and older get push last. An offer uses the best-ranked channel it allows.
with

candidates as (
    select * from {{ ref('int_winback_candidates_screened') }}
),

channels as (
    select * from {{ ref('stg_assumptions__channels') }}
),

consented as (
    select
        candidates.customer_id,
        channels.channel,
        channels.cost_per_contact,
        case
            when channels.channel = 'visit' then 1
            when channels.channel = 'phone' and (candidates.value_tier <= 2 or candidates.segment = 'b2b') then 2
            when channels.channel = candidates.preferred_channel then 3
            when channels.channel = 'push' and candidates.age_years >= 55 then 9
            when channels.channel = 'email' then 4
            when channels.channel = 'push' then 5
            when channels.channel = 'sms' then 6
            else 7
        end as channel_priority
    from candidates
    -- Without consent data every channel values the plan (R13: such a customer is listed,
    -- never contacted: winback/decisions/allocate.py).
    inner join channels
        on
            {{ winback.has_channel_consent('channels', 'candidates') }}
            or candidates.consent_status = 'unknown'
    where
        not coalesce(candidates.is_do_not_contact, false)
        and (channels.channel <> 'visit' or (candidates.segment = 'b2b' and candidates.value_tier = 1))
),

final as (
    select
        customer_id,
        channel,
        cost_per_contact,
        channel_priority,
        row_number() over (partition by customer_id order by channel_priority, cost_per_contact, channel)
            as channel_rank
    from consented
)

select * from final
