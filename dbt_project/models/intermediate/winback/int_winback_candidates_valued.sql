-- Win-back candidates at the run's as-of date (customers at risk, lapsed or recently lost
-- on the R1 status index) with what the decisions need: churn probability, the value at
-- stake if they stay (margin, cost to serve and advocacy included: R3, R4, R6) and the
-- purchase history that personalises the offer (favourite category).

with

-- The scoring snapshot: the candidates' and their shop's typical gaps (a snapshot's gaps
-- come from its own rows).
features as (
    select * from {{ ref('customer_features') }}
    where is_scoring_snapshot
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

customers as (
    select * from {{ ref('int_customers_consented') }}
),

-- The run's churn scores (marts.churn_scores of the as-of date); a candidate without one
-- (no scores yet, as in a plain dbt build on a fresh warehouse) gets the stand-in below.
scores as (
    select
        customer_id,
        churn_probability,
        reason_1 as model_reason_1,
        reason_2 as model_reason_2,
        reason_3 as model_reason_3,
        reason_1_code as model_reason_1_code,
        reason_2_code as model_reason_2_code,
        reason_3_code as model_reason_3_code
    from {{ ref('churn_scores') }}
    where as_of_date = cast('{{ run_value('as_of_date') }}' as date)
),

candidates as (
    select *
    from features
    where lapse_status in ('at_risk', 'lapsed', 'lost')
),

-- R3: the shop's typical gap between orders (a one-order candidate's cadence).
typical_gaps as (
    {{ winback.typical_gaps('features') }}
),

-- The candidates' purchases up to the end of the as-of day, with their items and unit
-- costs.
purchase_items as (
    select
        orders.customer_id,
        products.category,
        order_items.quantity * order_items.unit_price as item_revenue,
        order_items.quantity * (order_items.unit_price - products.unit_cost) as item_margin
    from orders
    inner join order_items
        on orders.order_id = order_items.order_id
    inner join products
        on order_items.product_id = products.product_id
    where
        orders.is_purchase
        and cast(orders.ordered_at as date) <= cast('{{ run_value('as_of_date') }}' as date)
        and orders.customer_id in (select candidates.customer_id from candidates)
),

margins as (
    select
        customer_id,
        cast(sum(item_margin) as double) / nullif(sum(item_revenue) filter (where item_margin is not null), 0)
            as gross_margin_rate
    from purchase_items
    group by customer_id
),

category_spend as (
    select
        customer_id,
        category,
        sum(item_revenue) as category_revenue
    from purchase_items
    where category is not null
    group by customer_id, category
),

-- The category with the most revenue; ties go to the first name, so every engine agrees.
favourite_categories as (
    select
        customer_id,
        category as favourite_category
    from (
        select
            customer_id,
            category,
            row_number() over (partition by customer_id order by category_revenue desc, category asc) as category_rank
        from category_spend
    ) as ranked_categories
    where category_rank = 1
),

valued as (
    select
        candidates.customer_id,
        candidates.as_of_date,
        candidates.lapse_status,
        candidates.churn_risk_score,
        candidates.segment,
        candidates.member_tier,
        candidates.age_years,
        candidates.recency_days,
        candidates.tenure_days,
        candidates.purchase_count,
        candidates.monetary_lifetime,
        candidates.monetary_365d,
        candidates.avg_order_value,
        candidates.median_gap_days,
        candidates.discounted_purchase_share,
        candidates.open_tickets,
        candidates.tickets_lifetime,
        candidates.tickets_365d,
        candidates.unresolved_product,
        candidates.unresolved_logistics,
        candidates.unresolved_attitude,
        candidates.unresolved_price,
        candidates.days_since_ticket,
        candidates.disputes_price,
        candidates.invoices_due,
        candidates.invoices_late,
        candidates.late_invoice_share,
        candidates.winback_contacts_30d,
        candidates.days_since_winback_contact,
        customers.is_do_not_contact,
        customers.has_consent_email,
        customers.has_consent_sms,
        customers.has_consent_phone,
        customers.has_consent_push,
        coalesce(customers.has_consent_data, false) as has_consent_data,
        customers.preferred_channel,
        customers.timezone,
        coalesce(
            customers.preferred_contact_hour,
            case
                when candidates.segment = 'b2b' then {{ var('winback_default_contact_hour_b2b') }}
                else {{ var('winback_default_contact_hour_b2c') }}
            end
        ) as contact_hour_local,
        favourite_categories.favourite_category,
        scores.model_reason_1,
        scores.model_reason_2,
        scores.model_reason_3,
        scores.model_reason_1_code,
        scores.model_reason_2_code,
        scores.model_reason_3_code,
        scores.churn_probability is not null as has_model_score,
        -- Stand-in when the model has not scored the customer: the status index.
        coalesce(
            scores.churn_probability,
            {{ winback.status_index_churn('candidates.lapse_status', 'candidates.churn_risk_score') }}
        ) as churn_probability,
        greatest(least(coalesce(margins.gross_margin_rate, {{ var('winback_default_margin_rate') }}), 1.0), -1.0)
            as gross_margin_rate,
        -- Revenue over 12 months if the customer is won back (R2, R3; macros/value.sql).
        {{ winback.revenue_if_won_back('candidates.avg_order_value', 'candidates.median_gap_days', 'candidates.purchase_count', 'typical_gaps.typical_gap_days', 'candidates.segment') }}
            as revenue_if_retained_12m,
        case
            when candidates.median_gap_days > 0 then 'own_cadence'
            else 'typical_cadence'
        end as value_source,
        -- R4: advocacy per year of tenure (at least one year). A double, not Spark's decimal.
        cast(
            candidates.referrals_converted * {{ var('winback_advocacy_value_per_referral') }}
            + candidates.reviews * {{ var('winback_advocacy_value_per_review') }}
            + (candidates.forum_contributions + candidates.survey_responses + candidates.suggestions)
            * {{ var('winback_advocacy_value_per_contribution') }}
            as double
        ) * 365 / greatest(candidates.tenure_days, 365) as advocacy_value_12m
    from candidates
    left join scores
        on candidates.customer_id = scores.customer_id
    left join customers
        on candidates.customer_id = customers.customer_id
    left join margins
        on candidates.customer_id = margins.customer_id
    left join favourite_categories
        on candidates.customer_id = favourite_categories.customer_id
    left join typical_gaps
        on
            candidates.as_of_date = typical_gaps.as_of_date
            and candidates.segment = typical_gaps.segment
),

final as (
    select
        *,
        case when has_model_score then 'model' else 'status_index_standin' end as churn_probability_source,
        -- R6: cost to serve (tickets) comes off the margin.
        gross_margin_rate * revenue_if_retained_12m
        - tickets_365d * {{ var('winback_cost_per_ticket') }} as margin_if_retained_12m,
        gross_margin_rate * revenue_if_retained_12m
        - tickets_365d * {{ var('winback_cost_per_ticket') }}
        + advocacy_value_12m as value_if_retained_12m
    from valued
)

select * from final
