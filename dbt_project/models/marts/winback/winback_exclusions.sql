-- Candidates kept out of the win-back list (R6, R13), one row per customer per as-of
-- date, with the first rule that applies and every rule that applies. Customers with an
-- open dispute are here and in service_recovery_queue. History is kept like winback_list.
with

decided as (
    select * from {{ ref('int_winback_candidates_decided') }}
),

final as (
    select
        as_of_date,
        customer_id,
        campaign_id,
        exclusion_reason,
        all_exclusion_reasons,
        lapse_status,
        segment,
        value_tier,
        value_if_retained_12m,
        churn_probability,
        likely_reason_1,
        reason_1_confidence,
        expected_profit as best_expected_profit
    from decided
    where exclusion_reason is not null
)

select * from final
