-- The offer catalogue in effect (R8, R9, R12): the merchant's offer_catalogue.csv when
-- given (winback/assumptions.py validated it), else the shipped seed. The catalogue
-- decides which offers exist for the decisions.
{%- set string = dbt.type_string() %}
with

source as (
    select * from {{ winback.source_or_ref('assumptions', 'offer_catalogue', 'winback_offer_catalogue') }}
),

final as (
    select
        cast(offer_code as {{ string }}) as offer_code,
        cast(offer_type as {{ string }}) as offer_type,
        cast(description as {{ string }}) as description,
        cast(discount_depth as double) as discount_depth,
        cast(fixed_cost as double) as fixed_cost,
        cast(eligible_reasons as {{ string }}) as eligible_reasons,
        cast(min_tier as integer) as min_tier,
        cast(channels as {{ string }}) as channels,
        cast(validity_days as integer) as validity_days
    from source
)

select * from final
