-- R10: what tonight's decision policy would have earned on the merchant's newest
-- randomized campaign, next to blanket policies (everyone gets one offer; no contact), by
-- off-policy evaluation with 95% intervals (models/decision_backtest.py). Read the doubly
-- robust rows first; an interval of gain_over_send_none above 0 means the policy beat
-- contacting no one on that campaign.
with

estimates as (
    select * from {{ ref('stg_decisions__backtest_estimates') }}
),

final as (
    select
        as_of_date,
        campaign_id,
        campaign_first_contact,
        policy,
        method,
        profit_per_customer,
        profit_per_customer_ci_low,
        profit_per_customer_ci_high,
        campaign_profit,
        campaign_customers,
        matched_customers,
        customers_contacted,
        gain_over_send_none,
        gain_over_send_none_ci_low,
        gain_over_send_none_ci_high,
        reward_value_cap,
        cast(rank() over (partition by method order by profit_per_customer desc) as bigint)
            as rank_in_method
    from estimates
)

select * from final
