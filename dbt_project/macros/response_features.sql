{#- The customer features the response model reads (models/response.py), the same list
    for the campaign history (features as of the snapshot before each contact) and for
    tonight's candidates (int_winback_allocation_candidates): recency and cadence (R1,
    R14), spend and discount habit (R3, R6), engagement, disputes (R7), earlier win-back
    contacts (R13), segment and age (R11), the status index. -#}
{% macro response_feature_columns() -%}
    {{ return([
        'recency_days', 'tenure_days', 'purchase_count', 'purchase_count_365d',
        'monetary_365d', 'avg_order_value', 'median_gap_days', 'recency_vs_cadence',
        'discounted_purchase_share', 'refund_count', 'site_visits_90d', 'cart_adds_90d',
        'email_opens_90d', 'days_since_email_open', 'days_since_site_visit',
        'calls_unanswered_180d', 'participations_180d', 'open_tickets',
        'unresolved_product', 'unresolved_logistics', 'unresolved_attitude', 'unresolved_price',
        'disputes_product', 'disputes_logistics', 'disputes_attitude', 'disputes_price',
        'avg_ticket_satisfaction', 'winback_contacts_90d', 'days_since_winback_contact',
        'segment', 'age_years', 'churn_risk_score', 'lapse_status'
    ]) }}
{%- endmacro %}

{#- The R7 reasons int_winback_reasons_wide scores (the seed winback_reasons must list
    the same ones), in one place for every model that names them. -#}
{% macro reason_names() -%}
    {{ return(['price', 'logistics', 'quality', 'service_attitude', 'forgot', 'needs_changed', 'competitor']) }}
{%- endmacro %}

{#- The status-index stand-in for the churn probability (R1, R2) where the churn model has
    not scored a customer: tonight's unscored candidates and the customers of past
    campaigns (the priors scale with it: models/response.py Priors.uplift). -#}
{% macro status_index_churn(lapse_status, churn_risk_score) -%}
    case
        when {{ lapse_status }} = 'lost' then 0.95
        else least(0.9, 0.4 + 0.1 * {{ churn_risk_score }})
    end
{%- endmacro %}

{#- The columns of a past contact itself in the campaign history (int_winback_contacts_to_describe,
    int_winback_response_rows, int_winback_response_history), in their order. -#}
{% macro response_contact_columns() -%}
    {{ return([
        'contact_id', 'customer_id', 'campaign_id', 'contact_date', 'step', 'offer_code',
        'channel', 'is_control', 'is_converted'
    ]) }}
{%- endmacro %}
