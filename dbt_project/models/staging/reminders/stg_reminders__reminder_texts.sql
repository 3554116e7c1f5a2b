-- The rendered reminder texts of the latest payment-reminder run, by order.
{%- set string = dbt.type_string() %}
with

texts as (
    select * from {{ winback.source_or_empty('reminders', 'reminder_texts', {
        'order_id': string,
        'rendered_text': string,
    }) }} as source_rows
),

final as (
    select
        cast(order_id as {{ string }}) as order_id,
        cast(rendered_text as {{ string }}) as rendered_text
    from texts
)

select * from final
