-- Measurement: of the payment reminders sent so far (int_reminder_ledger_sent), the share
-- whose order was paid after the reminder, by customer type (R20) and template (R21). Paid before the reminder means the reminder was redundant.
{%- set reminder_at = "cast('" ~ run_value('reminder_at') ~ "' as timestamp)" %}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

sent_reminders as (
    -- Sent by setting reminders.sent_rule (issue 17: logged, or due without a log).
    select
        order_id,
        remind_at,
        channel,
        customer_type,
        template_id
    from {{ ref('int_reminder_ledger_sent') }}
    where is_sent
),

outcomes as (
    select
        sent_reminders.customer_type,
        sent_reminders.template_id,
        sent_reminders.order_id,
        coalesce(orders.paid_at > sent_reminders.remind_at and orders.paid_at <= {{ reminder_at }}, false)
            as is_paid_after_reminder,
        coalesce(orders.paid_at <= sent_reminders.remind_at, false) as is_paid_before_reminder,
        coalesce(
            orders.paid_at > sent_reminders.remind_at
            and orders.paid_at <= least(sent_reminders.remind_at + interval '24 hours', {{ reminder_at }}),
            false
        ) as is_paid_within_24h
    from sent_reminders
    left join orders
        on sent_reminders.order_id = orders.order_id
),

final as (
    select
        customer_type,
        template_id,
        count(*) as reminders_sent,
        cast(count_if(is_paid_after_reminder) as bigint) as paid_after_reminder,
        cast(count_if(is_paid_within_24h) as bigint) as paid_within_24h,
        cast(count_if(is_paid_before_reminder) as bigint) as paid_before_reminder,
        cast(round(count_if(is_paid_after_reminder) / count(*), 4) as double) as share_paid_after_reminder,
        {{ reminder_at }} as measured_at
    from outcomes
    group by customer_type, template_id
)

select * from final
