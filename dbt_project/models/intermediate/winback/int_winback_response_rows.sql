-- R8, R10, R12: every past campaign contact (treatment and control) with what the
-- response model learns from: the contact (campaign, step, offer, channel, control or
-- not, converted within the attribution window) and the customer as of the snapshot
-- before it (features, R7 reason confidences, the status-index churn stand-in).
-- int_winback_response_history adds whether the outcome is known; models/response.py reads it.
-- Issue 19: incremental by contact (dbt_project.yml). A build computes the rows of the
-- contacts int_winback_contacts_to_describe lists (new or changed contacts, rebuilt
-- snapshots, the scoring snapshot); the pre-hook first removes those rows and the rows of
-- contacts that are gone, so the table equals a full build's.
-- depends_on: {{ ref('int_winback_past_contacts_dated') }}
{%- set features = winback.response_feature_columns() %}

with

contacts as (
    select * from {{ ref('int_winback_contacts_to_describe') }}
),

-- The snapshots tonight's contacts read (every customer of each: the typical gaps).
features as (
    select *
    from {{ ref('customer_features') }}
    where as_of_date in (select distinct contacts.reason_as_of_date from contacts)
),

reasons as (
    select * from {{ ref('int_winback_reasons_wide') }}
),

typical_gaps as (
    {{ winback.typical_gaps('features') }}
),

final as (
    select
        {%- for column in winback.response_contact_columns() %}
            contacts.{{ column }},
        {%- endfor %}
        contacts.reason_as_of_date,
        contacts.reason_build_id,
        -- Whether the customer has a row at that snapshot (the history holds only those);
        -- a contact without one is kept too, so that it is not computed again every night.
        features.customer_id is not null as has_features,
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
    left join features
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
