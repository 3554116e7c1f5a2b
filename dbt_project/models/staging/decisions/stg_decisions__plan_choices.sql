-- Tonight's plan for every allocation candidate, as the budget allocation wrote it:
-- the chosen plan (or the one they would get), its expected figures, whether the budget
-- took it (R6) and whether the control group holds the customer out (R10).
{%- set string = dbt.type_string() %}
with

choices as (
    select * from {{ winback.source_or_empty('decisions', 'plan_choices', {
        'as_of_date': 'date',
        'customer_id': string,
        'is_control_group': 'boolean',
        'is_selected': 'boolean',
        'has_profitable_plan': 'boolean',
        'channel': string,
        'planned_contacts': 'bigint',
        'step_1_offer': string,
        'step_2_offer': string,
        'step_3_offer': string,
        'incremental_return': 'double',
        'expected_gain': 'double',
        'expected_cost': 'double',
        'expected_profit': 'double',
        'committed_cost': 'double',
        'expected_contacts': 'double',
        'learned_weight': 'double',
        'recommended_offer': string,
        'allocation_score': 'double',
        'lagrange_multiplier': 'double',
    }) }} as source_rows
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(customer_id as {{ string }}) as customer_id,
        cast(is_control_group as boolean) as is_control_group,
        cast(is_selected as boolean) as is_selected,
        cast(has_profitable_plan as boolean) as has_profitable_plan,
        cast(channel as {{ string }}) as planned_channel,
        cast(planned_contacts as integer) as planned_contacts,
        cast(step_1_offer as {{ string }}) as step_1_offer,
        cast(step_2_offer as {{ string }}) as step_2_offer,
        cast(step_3_offer as {{ string }}) as step_3_offer,
        cast(recommended_offer as {{ string }}) as recommended_offer,
        cast(incremental_return as double) as return_probability,
        cast(expected_gain as double) as expected_gain,
        cast(expected_cost as double) as expected_cost,
        cast(expected_profit as double) as expected_profit,
        cast(committed_cost as double) as committed_cost,
        cast(expected_contacts as double) as expected_contacts,
        cast(learned_weight as double) as response_learned_share,
        cast(allocation_score as double) as allocation_score,
        cast(lagrange_multiplier as double) as lagrange_multiplier
    from choices
)

select * from final
