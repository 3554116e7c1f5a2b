-- One decision per candidate: excluded (with the first reason that applies, R6/R13), or
-- in the list with the best plan, the control-group flag (R10) and the budget choice.
-- Budget: greedy knapsack. Plans are ranked by expected profit per unit of committed
-- cost, and the list takes the longest prefix of that ranking whose committed cost fits
-- the budget (control-group members cost nothing: they are never contacted). Greedy by
-- ratio is optimal for the fractional problem and near-optimal when each plan is small
-- against the budget, which is the case for a list of thousands.
{%- set campaign_id = var('winback_campaign_id') %}

with

candidates as (
    select * from {{ ref('int_winback_candidates_screened') }}
),

plans as (
    select * from {{ ref('int_winback_plans_valued') }}
),

best_plans as (
    select * from plans
    where plan_rank = 1
),

with_plan as (
    select
        candidates.*,
        {% if campaign_id -%}
            '{{ campaign_id }}'
        {%- else -%}
            'winback-' || substr(cast(candidates.as_of_date as {{ dbt.type_string() }}), 1, 7)
        {%- endif %} as campaign_id,
        best_plans.main_offer_code as recommended_offer,
        best_plans.channel as planned_channel,
        best_plans.planned_contacts,
        best_plans.step_1_offer,
        best_plans.step_2_offer,
        best_plans.step_3_offer,
        best_plans.return_probability,
        best_plans.expected_gain,
        best_plans.expected_cost,
        best_plans.expected_profit,
        best_plans.committed_cost,
        coalesce(best_plans.expected_profit <= 0 or candidates.value_if_retained_12m <= 0, true) as is_unprofitable
    from candidates
    left join best_plans
        on candidates.customer_id = best_plans.customer_id
),

screened as (
    select
        *,
        -- The first rule that applies; an open dispute goes to service recovery first.
        case
            when is_open_dispute then 'open_dispute'
            when is_do_not_contact then 'do_not_contact'
            when has_no_consented_channel then 'no_consented_channel'
            when is_contacted_too_recently then 'contacted_too_recently'
            when is_chronic_late_payer then 'chronic_late_payer'
            when is_price_hunter then 'price_hunter'
            when is_high_attention_low_spend then 'high_attention_low_spend'
            when is_unprofitable then 'unprofitable'
        end as exclusion_reason,
        concat_ws(
            ', ',
            case when is_open_dispute then 'open_dispute' end,
            case when is_do_not_contact then 'do_not_contact' end,
            case when has_no_consented_channel then 'no_consented_channel' end,
            case when is_contacted_too_recently then 'contacted_too_recently' end,
            case when is_chronic_late_payer then 'chronic_late_payer' end,
            case when is_price_hunter then 'price_hunter' end,
            case when is_high_attention_low_spend then 'high_attention_low_spend' end,
            case when is_unprofitable then 'unprofitable' end
        ) as all_exclusion_reasons,
        -- R10: a stable pseudo-random number per customer and campaign (md5, so it is the
        -- same in any engine and in Python: tests/decisions/control.py control_draw).
        {{ winback.hex_to_number("substr(md5(customer_id || ':' || campaign_id), 1, 8)") }} / 4294967296.0
            as control_draw
    from with_plan
),

ranked as (
    select
        *,
        control_draw < {{ var('winback_control_share') }} as is_control_group,
        -- bigint on every engine (Spark's row_number is an int)
        cast(row_number() over (
            order by expected_profit / greatest(committed_cost, 0.01) desc, expected_profit desc, customer_id asc
        ) as bigint) as priority_rank
    from screened
    where exclusion_reason is null
),

budgeted as (
    select
        *,
        sum(case when is_control_group then 0 else committed_cost end) over (
            order by priority_rank rows between unbounded preceding and current row
        ) as cumulative_committed_cost
    from ranked
),

listed as (
    select
        *,
        cumulative_committed_cost <= {{ var('winback_budget') }} as is_selected
    from budgeted
),

final as (
    select
        screened.*,
        listed.is_control_group,
        listed.priority_rank,
        listed.cumulative_committed_cost,
        coalesce(listed.is_selected, false) as is_selected
    from screened
    left join listed
        on screened.customer_id = listed.customer_id
)

select * from final
