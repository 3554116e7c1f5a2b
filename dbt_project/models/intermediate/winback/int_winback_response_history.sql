-- R8, R10, R12: every past campaign contact (treatment and control) with what the
-- response model learns from: the contact (campaign, step, offer, channel, control or
-- not, converted within the attribution window) and the customer as of the snapshot
-- before it (features, R7 reason confidences, the status-index churn stand-in). models/response.py reads it.
{%- set features = winback.response_feature_columns() %}
{%- set window_days = var('winback_attribution_window_days') | round(0, 'ceil') | int %}

with

contacts as (
    select * from {{ ref('int_winback_past_contacts_dated') }}
),

features as (
    select * from {{ ref('customer_features') }}
),

reasons as (
    select * from {{ ref('int_winback_reasons_wide') }}
),

typical_gaps as (
    {{ winback.typical_gaps('features') }}
),

final as (
    select
        contacts.contact_id,
        contacts.customer_id,
        contacts.campaign_id,
        contacts.contact_date,
        contacts.step,
        contacts.offer_code,
        contacts.channel,
        contacts.is_control,
        contacts.is_converted,
        -- Issue 17: whether the attribution window has closed by the as-of day; a recent
        -- contact (e.g. yesterday's export) may still convert, so the response model
        -- learns from it only once it has (winback.decisions.allocate.read_inputs).
        {{ dbt.dateadd('day', window_days, 'contacts.contact_date') }}
        <= cast('{{ winback.run_value("as_of_date") }}' as date) as is_outcome_complete,
        contacts.reason_as_of_date,
        {{ winback.status_index_churn('features.lapse_status', 'features.churn_risk_score') }}
            as churn_probability,
        -- What a return is worth, as the decisions price it (R2, R3; macros/value.sql) at
        -- the merchant's default margin: the backtest's reward (models/decision_backtest.py).
        {{ var('winback_default_margin_rate') }}
        * {{ winback.revenue_if_won_back('features.avg_order_value', 'features.median_gap_days', 'features.purchase_count', 'typical_gaps.typical_gap_days', 'features.segment') }}
            as value_if_won_back,
        {%- for column in features %}
            features.{{ column }},
        {%- endfor %}
        {%- for reason in winback.reason_names()[:-1] %}
            reasons.reason_conf__{{ reason }},
        {%- endfor %}
        reasons.reason_conf__{{ winback.reason_names()[-1] }}
    from contacts
    inner join features
        on
            contacts.customer_id = features.customer_id
            and contacts.reason_as_of_date = features.as_of_date
    left join typical_gaps
        on
            features.as_of_date = typical_gaps.as_of_date
            and features.segment = typical_gaps.segment
    left join reasons
        on
            contacts.customer_id = reasons.customer_id
            and contacts.reason_as_of_date = reasons.as_of_date
)

select * from final
