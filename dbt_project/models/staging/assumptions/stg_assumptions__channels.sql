-- The contact channels in effect (R11, R13): the merchant's channels.csv when given, else
-- the shipped seed.
{%- set string = dbt.type_string() %}
with

source as (
    select * from {{ winback.source_or_ref('assumptions', 'channels', 'winback_channels') }}
),

final as (
    select
        cast(channel as {{ string }}) as channel,
        cast(cost_per_contact as double) as cost_per_contact,
        cast(consent_flag as {{ string }}) as consent_flag,
        cast(description as {{ string }}) as description,
        cast(prior_effect as double) as prior_effect
    from source
)

select * from final
