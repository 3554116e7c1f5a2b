-- The backtest of the product's decisions on the newest randomized campaign (R10), as
-- winback/decisions/backtest.py wrote it: one row per policy and estimator.
{%- set string = dbt.type_string() %}
with

estimates as (
    select * from {{ winback.source_or_empty('decisions', 'backtest_estimates', {
        'as_of_date': 'date',
        'campaign_id': string,
        'campaign_first_contact': 'date',
        'policy': string,
        'method': string,
        'value': 'double',
        'ci_low': 'double',
        'ci_high': 'double',
        'total': 'double',
        'n': 'bigint',
        'matched': 'bigint',
        'vs_baseline': 'double',
        'vs_baseline_ci_low': 'double',
        'vs_baseline_ci_high': 'double',
        'customers_contacted': 'bigint',
        'reward_value_cap': 'double',
    }) }} as source_rows
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(campaign_id as {{ string }}) as campaign_id,
        cast(campaign_first_contact as date) as campaign_first_contact,
        cast(policy as {{ string }}) as policy,  -- noqa: RF04
        cast(method as {{ string }}) as method,  -- noqa: RF04
        cast(value as double) as profit_per_customer,
        cast(ci_low as double) as profit_per_customer_ci_low,
        cast(ci_high as double) as profit_per_customer_ci_high,
        cast(total as double) as campaign_profit,
        cast(n as integer) as campaign_customers,
        cast(matched as integer) as matched_customers,
        cast(vs_baseline as double) as gain_over_send_none,
        cast(vs_baseline_ci_low as double) as gain_over_send_none_ci_low,
        cast(vs_baseline_ci_high as double) as gain_over_send_none_ci_high,
        cast(customers_contacted as integer) as customers_contacted,
        cast(reward_value_cap as double) as reward_value_cap
    from estimates
)

select * from final
