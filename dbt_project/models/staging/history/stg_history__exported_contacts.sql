-- The win-back contacts Winback exported (winback.exports.history), shaped like the
-- merchant's campaign contacts.
{%- set string = dbt.type_string() %}
{%- set timestamp = dbt.type_timestamp() %}
with

exported as (
    select * from {{ winback.source_or_empty('history', 'winback_exported_contacts', {
        'contact_id': string,
        'customer_id': string,
        'campaign_id': string,
        'contact_ts': timestamp,
        'channel': string,
        'offer_code': string,
        adapter.quote('group'): string,
        'step': 'integer',
        'as_of_date': 'date',
    }) }} as source_rows
),

final as (
    select
        cast(contact_id as {{ string }}) as contact_id,
        cast(customer_id as {{ string }}) as customer_id,
        cast(campaign_id as {{ string }}) as campaign_id,
        cast(contact_ts as {{ timestamp }}) as contacted_at,
        cast(channel as {{ string }}) as channel,
        cast(offer_code as {{ string }}) as offer_code,
        cast({{ adapter.quote('group') }} as {{ string }}) as contact_group,
        cast(step as integer) as contact_step,
        cast(as_of_date as date) as exported_as_of_date
    from exported
)

select * from final
