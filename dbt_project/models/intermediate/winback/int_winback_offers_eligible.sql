-- The offers each allocation candidate may get (R8, R9): an offer answers one of the
-- customer's likely reasons (the first, or any at least winback_min_reason_confidence
-- likely; never a blanket discount), is allowed for the customer's value tier, and its
-- discount is within the tier's cap. Generic contacts (eligible for `any` reason) go to
-- everyone.
with

candidates as (
    select * from {{ ref('int_winback_allocation_candidates') }}
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

caps as (
    select * from {{ ref('stg_assumptions__discount_caps') }}
),

reasons as (
    select * from {{ ref('int_winback_reasons_scored') }}
    where is_scoring_snapshot
),

final as (
    select distinct
        candidates.customer_id,
        catalogue.offer_code
    from candidates
    inner join catalogue
        on candidates.value_tier <= catalogue.min_tier
    inner join caps
        on candidates.value_tier = caps.value_tier
    inner join reasons
        on candidates.customer_id = reasons.customer_id
    where
        catalogue.discount_depth <= caps.max_discount_depth
        and (
            catalogue.eligible_reasons = 'any'
            or (
                {{ winback.delimited_list_contains('catalogue.eligible_reasons', '|', 'reasons.reason') }}
                and (reasons.reason_rank = 1 or reasons.reason_confidence >= {{ var('winback_min_reason_confidence') }})
            )
        )
)

select * from final
