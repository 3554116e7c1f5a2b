{{ config(schema='marts', materialized='table', tags=['reminders']) }}
-- Measurement: of the payment reminders sent so far (ledger rows scheduled and due by
-- reminder_at), the share whose order was paid after the reminder, by customer type
-- (R20) and template (R21). Paid before the reminder means the reminder was redundant.
{%- set reminder_at = "cast('" ~ run_value('reminder_at') ~ "' as timestamp)" %}
{%- set ledger_relation = source('reminders', 'reminder_ledger') %}
{%- set ledger_exists = execute and adapter.get_relation(
    database=ledger_relation.database,
    schema=ledger_relation.schema,
    identifier=ledger_relation.identifier
) is not none %}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

ledger as (
    {%- if ledger_exists %}
    select * from {{ ledger_relation }}
{%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as order_id,
            cast(null as {{ dbt.type_string() }}) as status,
            cast(null as timestamp) as remind_at,
            cast(null as {{ dbt.type_string() }}) as channel,
            cast(null as {{ dbt.type_string() }}) as customer_type,
            cast(null as {{ dbt.type_string() }}) as template_id,
            cast(null as timestamp) as scheduled_at
        where false
    {%- endif %}
),

sent_reminders as (
    select
        order_id,
        remind_at,
        channel,
        customer_type,
        template_id
    from ledger
    where
        status = 'scheduled'
        and remind_at <= {{ reminder_at }}
        and scheduled_at < {{ reminder_at }}
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
        count_if(is_paid_after_reminder) as paid_after_reminder,
        count_if(is_paid_within_24h) as paid_within_24h,
        count_if(is_paid_before_reminder) as paid_before_reminder,
        round(count_if(is_paid_after_reminder) / count(*), 4) as share_paid_after_reminder,
        {{ reminder_at }} as measured_at
    from outcomes
    group by customer_type, template_id
)

select * from final
