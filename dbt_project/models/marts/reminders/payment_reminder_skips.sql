-- Unpaid orders the latest payment-reminder run decided not to remind, each with the
-- first reason that applies and the rule behind it (R15–R20, consent, once).
with

decided as (
    select * from {{ ref('int_payment_reminders_decided') }}
),

final as (
    select
        order_id,
        customer_id,
        reason_code,
        rule_id,
        customer_type,
        decided_at
    from decided
    where decision = 'skip'
)

select * from final
