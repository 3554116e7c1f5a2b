-- The candidates the budget allocation plans for (winback/decisions/allocate.py): every
-- candidate no rule keeps out (R6, R7, R13), control group included (R10: they get the
-- plan they would have had, and are never contacted), with what the plans are valued
-- with: churn probability, value if retained (R3-R5), order value and cadence, whether
-- the shop was at fault (R8: fix first), and the response model's features and R7
-- reason confidences as of tonight.
{%- set features = winback.response_feature_columns() %}

with

screened as (
    select * from {{ ref('int_winback_candidates_screened') }}
),

features as (
    select * from {{ ref('customer_features') }}
    where is_scoring_snapshot
),

reasons as (
    select * from {{ ref('int_winback_reasons_wide') }}
    where is_scoring_snapshot
),

reason_kinds as (
    select * from {{ ref('winback_reasons') }}
),

final as (
    select
        screened.customer_id,
        screened.as_of_date,
        screened.campaign_id,
        screened.is_control_group,
        screened.consent_status,
        screened.value_tier,
        screened.likely_reason_1,
        coalesce(reason_kinds.is_company_fault, false) as is_company_fault,
        screened.churn_probability,
        screened.value_if_retained_12m,
        {%- for column in features %}
            features.{{ column }},
        {%- endfor %}
        {%- for reason in winback.reason_names()[:-1] %}
            reasons.reason_conf__{{ reason }},
        {%- endfor %}
        reasons.reason_conf__{{ winback.reason_names()[-1] }}
    from screened
    inner join features
        on screened.customer_id = features.customer_id
    left join reasons
        on screened.customer_id = reasons.customer_id
    left join reason_kinds
        on screened.likely_reason_1 = reason_kinds.reason
    where screened.rule_exclusion_reason is null
)

select * from final
