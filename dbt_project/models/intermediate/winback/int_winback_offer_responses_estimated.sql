-- P(return | offer, customer): the uplift of each catalogue offer for each candidate,
-- the reason-specific estimates weighted by the customer's reason confidences (R7, R8).
with

reasons as (
    select * from {{ ref('int_winback_reasons_scored') }}
),

uplift as (
    select * from {{ ref('int_winback_offer_uplift_estimated') }}
),

final as (
    select
        reasons.customer_id,
        uplift.offer_code,
        sum(reasons.reason_confidence * uplift.return_probability) as return_probability
    from reasons
    inner join uplift
        on reasons.reason = uplift.reason
    where reasons.is_scoring_snapshot
    group by reasons.customer_id, uplift.offer_code
)

select * from final
