-- Every contact plan a candidate could get, valued (R8, R9, R12). A plan is a main offer
-- O in a reason-adjusted R12 sequence, cut after 1, 2 or 3 contacts:
--   default:              1st reminder, 2nd new arrivals, 3rd O (a personal offer);
--   company fault (R8):   1st O (the fix or apology), 2nd new arrivals; no 3rd.
-- For a plan of n contacts with per-contact return chances p_k (the 3rd damped by
-- winback_third_contact_fatigue, R12) and churn probability c:
--   gain            = c * (1 - prod(1 - p_k)) * value_if_retained_12m
--   expected cost   = sum over contacts of P(still not back) * (channel + fixed cost)
--                     + discount depth * order value * P(the discount is redeemed)
--   expected profit = gain - expected cost
--   committed cost  = every contact sent + every discount redeemed once (the budget's unit)
-- Cutting the plan where the next contact no longer adds expected profit is the stop rule.
{%- set reminder = var('winback_reminder_offer') %}
{%- set new_arrivals = var('winback_new_arrivals_offer') %}
{%- set fatigue = var('winback_third_contact_fatigue') %}

with

candidates as (
    select * from {{ ref('int_winback_candidates_screened') }}
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

caps as (
    select * from {{ ref('stg_assumptions__discount_caps') }}
),

reasons as (
    select * from {{ ref('int_winback_reasons_scored') }}
),

reason_kinds as (
    select * from {{ ref('winback_reasons') }}
),

channels as (
    select * from {{ ref('int_winback_channels_ranked') }}
),

responses as (
    select * from {{ ref('int_winback_offer_responses_estimated') }}
),

-- Offers that answer one of the customer's likely reasons (never a blanket discount, R8),
-- allowed for the tier and within the tier's discount cap (R9).
eligible_offers as (
    select distinct
        candidates.customer_id,
        catalogue.offer_code
    from candidates
    inner join catalogue
        on candidates.value_tier <= catalogue.min_tier
    inner join caps
        on candidates.value_tier = caps.value_tier
    inner join reasons
        on
            candidates.customer_id = reasons.customer_id
            and reasons.is_scoring_snapshot
    where
        catalogue.discount_depth <= caps.max_discount_depth
        and (
            catalogue.eligible_reasons = 'any'
            or (
                {{ winback.delimited_list_contains('catalogue.eligible_reasons', '|', 'reasons.reason') }}
                and (reasons.reason_rank = 1 or reasons.reason_confidence >= {{ var('winback_min_reason_confidence') }})
            )
        )
),

offer_channels as (
    select
        customer_id,
        offer_code,
        channel,
        cost_per_contact
    from (
        select
            eligible_offers.customer_id,
            eligible_offers.offer_code,
            channels.channel,
            channels.cost_per_contact,
            row_number() over (
                partition by eligible_offers.customer_id, eligible_offers.offer_code order by channels.channel_rank
            ) as channel_choice
        from eligible_offers
        inner join catalogue
            on eligible_offers.offer_code = catalogue.offer_code
        inner join channels
            on
                eligible_offers.customer_id = channels.customer_id
                and {{ winback.delimited_list_contains('catalogue.channels', '|', 'channels.channel') }}
    ) as ranked_channels
    where channel_choice = 1
),

sequenced as (
    select
        candidates.customer_id,
        candidates.churn_probability,
        candidates.value_if_retained_12m,
        candidates.avg_order_value,
        candidates.median_gap_days,
        offer_channels.offer_code as main_offer_code,
        offer_channels.channel,
        offer_channels.cost_per_contact,
        coalesce(reason_kinds.is_company_fault, false) as is_company_fault,
        case when reason_kinds.is_company_fault then offer_channels.offer_code else '{{ reminder }}' end
            as step_1_offer,
        case
            when reason_kinds.is_company_fault and offer_channels.offer_code = '{{ new_arrivals }}'
                then '{{ reminder }}'
            when reason_kinds.is_company_fault then '{{ new_arrivals }}'
            else '{{ new_arrivals }}'
        end as step_2_offer,
        case
            when reason_kinds.is_company_fault then null
            when offer_channels.offer_code in ('{{ reminder }}', '{{ new_arrivals }}') then null
            else offer_channels.offer_code
        end as step_3_offer
    from candidates
    inner join offer_channels
        on candidates.customer_id = offer_channels.customer_id
    left join reason_kinds
        on candidates.likely_reason_1 = reason_kinds.reason
),

cut as (
    select
        sequenced.*,
        steps.planned_contacts
    from sequenced
    cross join {{ winback.integer_range(1, 3, 'planned_contacts') }} as steps
    where
        (steps.planned_contacts < 3 or sequenced.step_3_offer is not null)
        -- the main offer must be in the plan
        and (
            sequenced.step_1_offer = sequenced.main_offer_code
            or (steps.planned_contacts >= 2 and sequenced.step_2_offer = sequenced.main_offer_code)
            or steps.planned_contacts = 3
        )
),

priced as (
    select
        cut.*,
        r1.return_probability as p_1,
        case when cut.planned_contacts >= 2 then r2.return_probability else 0 end as p_2,
        case when cut.planned_contacts >= 3 then r3.return_probability * {{ fatigue }} else 0 end as p_3,
        o1.fixed_cost as fixed_cost_1,
        case when cut.planned_contacts >= 2 then o2.fixed_cost else 0 end as fixed_cost_2,
        case when cut.planned_contacts >= 3 then o3.fixed_cost else 0 end as fixed_cost_3,
        o1.discount_depth as depth_1,
        case when cut.planned_contacts >= 2 then o2.discount_depth else 0 end as depth_2,
        case when cut.planned_contacts >= 3 then o3.discount_depth else 0 end as depth_3,
        o1.validity_days as validity_1,
        o2.validity_days as validity_2,
        o3.validity_days as validity_3
    from cut
    inner join responses as r1
        on cut.customer_id = r1.customer_id and cut.step_1_offer = r1.offer_code
    inner join catalogue as o1
        on cut.step_1_offer = o1.offer_code
    left join responses as r2
        on cut.customer_id = r2.customer_id and cut.step_2_offer = r2.offer_code
    left join catalogue as o2
        on cut.step_2_offer = o2.offer_code
    left join responses as r3
        on cut.customer_id = r3.customer_id and cut.step_3_offer = r3.offer_code
    left join catalogue as o3
        on cut.step_3_offer = o3.offer_code
),

reach as (
    select
        priced.*,
        -- P(the customer has not come back before contact k): they leave the sequence.
        1.0 as reach_1,
        1.0 - priced.churn_probability * priced.p_1 as reach_2,
        (1.0 - priced.churn_probability * priced.p_1) * (1.0 - priced.churn_probability * priced.p_2) as reach_3,
        -- Customers who would buy anyway redeem a discount if they order within its validity.
        (1.0 - priced.churn_probability)
        * least(1.0, coalesce(priced.validity_1, 14) / coalesce(nullif(priced.median_gap_days, 0), 365.0)) as p_buy_anyway
    from priced
),

valued as (
    select
        customer_id,
        main_offer_code,
        channel,
        planned_contacts,
        step_1_offer,
        case when planned_contacts >= 2 then step_2_offer end as step_2_offer,
        case when planned_contacts >= 3 then step_3_offer end as step_3_offer,
        churn_probability,
        value_if_retained_12m,
        is_company_fault,
        1.0 - (1.0 - p_1) * (1.0 - p_2) * (1.0 - p_3) as return_probability,
        churn_probability * (1.0 - (1.0 - p_1) * (1.0 - p_2) * (1.0 - p_3)) * value_if_retained_12m
            as expected_gain,
        reach_1 * (cost_per_contact + fixed_cost_1)
        + case when planned_contacts >= 2 then reach_2 * (cost_per_contact + fixed_cost_2) else 0 end
        + case when planned_contacts >= 3 then reach_3 * (cost_per_contact + fixed_cost_3) else 0 end
            as expected_contact_cost,
        avg_order_value * (
            depth_1 * reach_1 * (churn_probability * p_1 + p_buy_anyway)
            + depth_2 * reach_2 * (churn_probability * p_2 + p_buy_anyway)
            + depth_3 * reach_3 * (churn_probability * p_3 + p_buy_anyway)
        ) as expected_discount_cost,
        planned_contacts * cost_per_contact + fixed_cost_1 + fixed_cost_2 + fixed_cost_3
        + avg_order_value * (depth_1 + depth_2 + depth_3) as committed_cost
    from reach
),

final as (
    select
        *,
        expected_contact_cost + expected_discount_cost as expected_cost,
        expected_gain - expected_contact_cost - expected_discount_cost as expected_profit,
        row_number() over (
            partition by customer_id
            order by
                expected_gain - expected_contact_cost - expected_discount_cost desc,
                committed_cost asc,
                planned_contacts asc,
                main_offer_code asc
        ) as plan_rank
    from valued
)

select * from final
