-- R8, R10, R12: every past campaign contact with what the response model learns from
-- (int_winback_response_rows, computed incrementally), and whether its outcome is known.
-- models/response.py reads it.
{%- set features = winback.response_feature_columns() %}
{%- set window_days = var('winback_attribution_window_days') | round(0, 'ceil') | int %}

with

contacts as (
    select * from {{ ref('int_winback_response_rows') }}
),

final as (
    select
        {%- for column in winback.response_contact_columns() %}
            {{ column }},
        {%- endfor %}
        -- Issue 17: whether the attribution window has closed by the as-of day; a recent
        -- contact (e.g. yesterday's export) may still convert, so the response model
        -- learns from it only once it has (winback.decisions.allocate.read_inputs).
        {{ dbt.dateadd('day', window_days, 'contact_date') }}
        <= cast('{{ winback.run_value("as_of_date") }}' as date) as is_outcome_complete,
        reason_as_of_date,
        churn_probability,
        value_if_won_back,
        {%- for column in features %}
            {{ column }},
        {%- endfor %}
        {%- for reason in winback.reason_names()[:-1] %}
            reason_conf__{{ reason }},
        {%- endfor %}
        reason_conf__{{ winback.reason_names()[-1] }}
    from contacts
    where has_features
)

select * from final
