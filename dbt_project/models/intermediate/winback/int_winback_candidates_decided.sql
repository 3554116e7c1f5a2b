-- One decision per candidate: excluded (the first rule that applies, R6/R7/R13, or
-- unprofitable when no plan is expected to pay), or in the list with tonight's plan, the
-- control-group flag (R10) and whether the budget took it (R6: the Lagrangian allocation
-- in winback/decisions/allocate.py spends the budget where it earns most). Priority: the
-- plan's profit beyond the marginal price of the budget (allocation_score), best first.
with

candidates as (
    select * from {{ ref('int_winback_candidates_screened') }}
),

choices as (
    select * from {{ ref('stg_decisions__plan_choices') }}
),

joined as (
    select
        candidates.*,
        choices.planned_channel,
        choices.planned_contacts,
        choices.step_1_offer,
        choices.step_2_offer,
        choices.step_3_offer,
        choices.recommended_offer,
        choices.return_probability,
        choices.expected_gain,
        choices.expected_cost,
        choices.expected_profit,
        choices.committed_cost,
        choices.response_learned_share,
        choices.allocation_score,
        coalesce(choices.is_selected, false) as is_allocated,
        coalesce(choices.has_profitable_plan, false) as has_profitable_plan,
        coalesce(candidates.value_if_retained_12m <= 0, true) as has_no_value
    from candidates
    left join choices
        on candidates.customer_id = choices.customer_id
),

excluded as (
    select
        *,
        coalesce(
            rule_exclusion_reason,
            case when has_no_value or not has_profitable_plan then 'unprofitable' end
        ) as exclusion_reason,
        case
            when rule_exclusion_reason is not null and (has_no_value or not has_profitable_plan)
                then rule_exclusion_reasons || ', unprofitable'
            when rule_exclusion_reason is not null then rule_exclusion_reasons
            when has_no_value or not has_profitable_plan then 'unprofitable'
        end as all_exclusion_reasons,
        has_no_value or not has_profitable_plan as is_unprofitable
    from joined
),

ranked as (
    select
        customer_id,
        is_allocated and not is_control_group as takes_budget,
        committed_cost,
        expected_cost,
        -- bigint on every engine (Spark's row_number is an int)
        cast(row_number() over (
            order by allocation_score desc, expected_profit desc, customer_id asc
        ) as bigint) as priority_rank
    from excluded
    where exclusion_reason is null
),

-- What the list has spent down to each rank (control members are never contacted: R10).
budgeted as (
    select
        customer_id,
        priority_rank,
        sum(case when takes_budget then committed_cost else 0 end) over (
            order by priority_rank rows between unbounded preceding and current row
        ) as cumulative_committed_cost,
        sum(case when takes_budget then expected_cost else 0 end) over (
            order by priority_rank rows between unbounded preceding and current row
        ) as cumulative_expected_cost
    from ranked
),

final as (
    select
        excluded.*,
        budgeted.priority_rank,
        excluded.exclusion_reason is null and excluded.is_allocated as is_selected,
        budgeted.cumulative_committed_cost,
        budgeted.cumulative_expected_cost
    from excluded
    left join budgeted
        on excluded.customer_id = budgeted.customer_id
)

select * from final
