-- Candidates with an open dispute (R7, R8): fix the problem before any offer. One row per
-- customer per as-of date, most valuable and most at risk first; history kept.
with

decided as (
    select * from {{ ref('int_winback_candidates_decided') }}
),

final as (
    select
        as_of_date,
        customer_id,
        -- bigint on every engine (Spark's row_number is an int)
        cast(row_number() over (
            partition by as_of_date
            order by value_if_retained_12m * churn_probability desc, customer_id
        ) as bigint) as queue_position,
        open_tickets,
        concat_ws(
            ', ',
            case when unresolved_logistics > 0 then 'logistics' end,
            case when unresolved_product > 0 then 'product' end,
            case when unresolved_attitude > 0 then 'attitude' end,
            case when unresolved_price > 0 then 'price' end
        ) as open_dispute_kinds,
        days_since_ticket,
        lapse_status,
        segment,
        value_tier,
        value_if_retained_12m,
        churn_probability,
        likely_reason_1,
        case
            when unresolved_attitude > 0
                then 'A more senior person calls, apologises and resolves the complaint (R8).'
            when unresolved_product > 0
                then 'Resolve the product issue (replace or refund), say what was fixed, offer a warranty or free service (R8).'
            when unresolved_logistics > 0
                then 'Resolve the delivery issue and follow up personally; free or priority shipping next time (R8).'
            when unresolved_price > 0
                then 'Answer the price question honestly; no discount until the dispute is closed (R6, R9).'
            else 'Resolve the open ticket and follow up personally (R8).'
        end as recommended_action,
        cast({{ dbt.dateadd('day', '1', 'as_of_date') }} as date) as respond_by_date
    from decided
    where is_open_dispute
)

select * from final
