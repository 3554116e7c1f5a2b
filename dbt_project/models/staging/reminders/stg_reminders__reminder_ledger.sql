-- The reminder ledger (winback.reminders.ledger): every order ever scheduled for a
-- payment reminder, and whether it was cancelled.
{%- set string = dbt.type_string() %}
{%- set timestamp = dbt.type_timestamp() %}
with

ledger as (
    select * from {{ winback.source_or_empty('reminders', 'reminder_ledger', {
        'order_id': string,
        'customer_id': string,
        'status': string,
        'remind_at': timestamp,
        'channel': string,
        'customer_type': string,
        'template_id': string,
        'language': string,
        'rendered_text': string,
        'scheduled_at': timestamp,
        'updated_at': timestamp,
        'cancel_reason': string,
    }) }} as source_rows
),

final as (
    select
        cast(order_id as {{ string }}) as order_id,
        cast(customer_id as {{ string }}) as customer_id,
        cast(status as {{ string }}) as status,
        cast(remind_at as {{ timestamp }}) as remind_at,
        cast(channel as {{ string }}) as channel,
        cast(customer_type as {{ string }}) as customer_type,
        cast(template_id as {{ string }}) as template_id,
        cast(language as {{ string }}) as language,  -- noqa: RF04
        cast(rendered_text as {{ string }}) as rendered_text,
        cast(scheduled_at as {{ timestamp }}) as scheduled_at,
        cast(updated_at as {{ timestamp }}) as updated_at,
        cast(cancel_reason as {{ string }}) as cancel_reason
    from ledger
)

select * from final
