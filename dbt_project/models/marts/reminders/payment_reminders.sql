-- The payment reminders to send (R15–R21): one row per order the latest run decided to
-- remind, with when (UTC and the customer's local time), how, which template and the
-- rendered text (stg_reminders__reminder_texts, rendered by the flow from the Jinja2
-- templates). Rebuilt whole by every payment-reminder run after its ledger is written.
with

decided as (
    select * from {{ ref('int_payment_reminders_decided') }}
),

texts as (
    select * from {{ ref('stg_reminders__reminder_texts') }}
),

final as (
    select
        decided.order_id,
        decided.customer_id,
        decided.remind_at,
        cast({{ winback.utc_to_local('decided.remind_at', 'decided.customer_timezone') }} as {{ dbt.type_timestamp() }})
            as remind_at_local,
        decided.customer_timezone,
        decided.channel,
        decided.customer_type,
        decided.template_id,
        decided.language,  -- noqa: RF04
        texts.rendered_text,
        decided.timing_rule,
        decided.is_flash_sale,
        decided.deadline_at as pay_deadline_at,
        decided.decided_at
    from decided
    -- A reminder without a text breaks the contract's not_null (never sent half-made).
    left join texts
        on decided.order_id = texts.order_id
    where decided.decision = 'remind'
)

select * from final
