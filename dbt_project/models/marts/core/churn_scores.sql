-- One row per customer per as-of date: the calibrated churn probability of the model that
-- scores that date (trained on data up to it: models/lifecycle.py), its risk band, the
-- three strongest reasons (phrases and their codes, seed model_reason_codes), P(alive),
-- expected 12-month value and next order date (R3, R14). Scoring writes tonight's rows;
-- this mart keeps every date (a rerun replaces its own date only).
with

scores as (
    select * from {{ ref('stg_scoring__churn_scores') }}
),

final as (
    select
        as_of_date,
        customer_id,
        churn_probability,
        model_version,
        scored_at,
        risk_band,
        reason_1,
        reason_2,
        reason_3,
        p_alive,
        expected_value_12m,
        expected_next_order_date,
        reason_method,
        reason_1_code,
        reason_2_code,
        reason_3_code
    from scores
)

select * from final
