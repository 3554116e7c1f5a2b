-- One row per customer per as-of date: the table both the churn model and analysts read.
-- Population: customers with a purchase before the as-of date whose last purchase is at
-- most `long_lost_after_days` old. Customers gone longer than that are not churn
-- candidates any more (they churned long ago); they are counted in churn_rate_monthly
-- and left out here on purpose rather than mixed into training as easy negatives.
-- Every feature uses only data up to the end of the as-of day (see the leakage test).
-- Incremental by as-of date: builds only the snapshots int_snapshot_rebuild_dates flags.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_features') }}
),

orders_aggregated as (
    select computed.* from {{ ref('int_customers_orders_aggregated') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

engagement as (
    select computed.* from {{ ref('int_customers_engagement_aggregated') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

service as (
    select computed.* from {{ ref('int_customers_service_aggregated') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

payments as (
    select computed.* from {{ ref('int_customers_payments_aggregated') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

contacts as (
    select computed.* from {{ ref('int_customers_contacts_aggregated') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

labels as (
    select computed.* from {{ ref('int_customer_labels') }} as computed
    where computed.as_of_date in (select snapshots.as_of_date from snapshots)
),

joined as (
    select
        orders_aggregated.customer_id,
        orders_aggregated.as_of_date,
        -- R1, R3: recency, frequency, monetary, own cadence and trends
        -- Day counts are bigint on every engine (Spark's datediff gives int).
        cast(
            {{ dbt.datediff('cast(orders_aggregated.last_purchase_at as date)', 'orders_aggregated.as_of_date', 'day') }}
            as bigint
        ) as recency_days,
        cast(
            {{ dbt.datediff('cast(orders_aggregated.first_purchase_at as date)', 'orders_aggregated.as_of_date', 'day') }}
            as bigint
        ) as tenure_days,
        orders_aggregated.purchase_count,
        orders_aggregated.purchase_count_365d,
        orders_aggregated.purchase_count_90d,
        orders_aggregated.purchase_count_prev_90d,
        orders_aggregated.monetary_lifetime,
        orders_aggregated.monetary_365d,
        orders_aggregated.monetary_90d,
        orders_aggregated.monetary_prev_90d,
        orders_aggregated.monetary_lifetime / orders_aggregated.purchase_count as avg_order_value,
        orders_aggregated.essential_spend_lifetime,
        orders_aggregated.discretionary_spend_lifetime,
        orders_aggregated.essential_spend_365d,
        orders_aggregated.discretionary_spend_365d,
        orders_aggregated.median_gap_days,
        orders_aggregated.gap_days_stddev,
        {{ dbt.datediff('cast(orders_aggregated.last_purchase_at as date)', 'orders_aggregated.as_of_date', 'day') }}
        / nullif(orders_aggregated.median_gap_days, 0) as recency_vs_cadence,
        orders_aggregated.purchase_count_90d - orders_aggregated.purchase_count_prev_90d
            as purchase_count_trend_90d,
        orders_aggregated.monetary_90d - orders_aggregated.monetary_prev_90d as monetary_trend_90d,
        orders_aggregated.discounted_purchase_share,
        orders_aggregated.refund_count,
        orders_aggregated.abandoned_unpaid_order_count,
        orders_aggregated.avg_pay_delay_hours,
        -- R1: intent that no longer converts, disengagement
        coalesce(engagement.site_visits_90d, 0) as site_visits_90d,
        coalesce(engagement.cart_adds_90d, 0) as cart_adds_90d,
        coalesce(engagement.inquiries_90d, 0) as inquiries_90d,
        coalesce(engagement.emails_sent_90d, 0) as emails_sent_90d,
        coalesce(engagement.email_opens_90d, 0) as email_opens_90d,
        coalesce(engagement.email_opens_prev_90d, 0) as email_opens_prev_90d,
        coalesce(engagement.email_clicks_90d, 0) as email_clicks_90d,
        coalesce(engagement.calls_answered_180d, 0) as calls_answered_180d,
        coalesce(engagement.calls_unanswered_180d, 0) as calls_unanswered_180d,
        cast(engagement.days_since_email_open as bigint) as days_since_email_open,
        cast(engagement.days_since_site_visit as bigint) as days_since_site_visit,
        -- R4: advocacy value
        coalesce(engagement.referrals, 0) as referrals,
        coalesce(engagement.referrals_converted, 0) as referrals_converted,
        coalesce(engagement.reviews, 0) as reviews,
        engagement.avg_review_rating,
        coalesce(engagement.forum_contributions, 0) as forum_contributions,
        coalesce(engagement.survey_responses, 0) as survey_responses,
        coalesce(engagement.suggestions, 0) as suggestions,
        coalesce(engagement.campaign_joins, 0) as campaign_joins,
        coalesce(engagement.participations_180d, 0) as participations_180d,
        engagement.last_nps,
        -- R7: disputes by kind and whether resolved
        coalesce(service.tickets_lifetime, 0) as tickets_lifetime,
        coalesce(service.tickets_365d, 0) as tickets_365d,
        coalesce(service.disputes_product, 0) as disputes_product,
        coalesce(service.disputes_logistics, 0) as disputes_logistics,
        coalesce(service.disputes_attitude, 0) as disputes_attitude,
        coalesce(service.disputes_price, 0) as disputes_price,
        coalesce(service.open_tickets, 0) as open_tickets,
        coalesce(service.unresolved_product, 0) as unresolved_product,
        coalesce(service.unresolved_logistics, 0) as unresolved_logistics,
        coalesce(service.unresolved_attitude, 0) as unresolved_attitude,
        coalesce(service.unresolved_price, 0) as unresolved_price,
        cast(service.days_since_ticket as bigint) as days_since_ticket,
        service.avg_ticket_satisfaction,
        -- R6, R22: receivables
        coalesce(payments.invoices_due, 0) as invoices_due,
        coalesce(payments.invoices_late, 0) as invoices_late,
        payments.late_invoice_share,
        payments.avg_days_late,
        coalesce(payments.invoices_overdue_open, 0) as invoices_overdue_open,
        -- R13: contact fatigue
        coalesce(contacts.winback_contacts_30d, 0) as winback_contacts_30d,
        coalesce(contacts.winback_contacts_90d, 0) as winback_contacts_90d,
        cast(contacts.days_since_winback_contact as bigint) as days_since_winback_contact,
        -- R11: profile (current values; the contract has no profile history)
        customers.segment,
        customers.member_tier,
        customers.region,
        customers.city_tier,
        customers.gender,
        customers.household,
        customers.occupation,
        customers.acquisition_channel,
        extract(year from orders_aggregated.as_of_date) - customers.birth_year as age_years,
        cast(
            {{ dbt.datediff('cast(customers.signed_up_at as date)', 'orders_aggregated.as_of_date', 'day') }}
            as bigint
        ) as days_since_signup
    from orders_aggregated
    left join engagement
        on
            orders_aggregated.customer_id = engagement.customer_id
            and orders_aggregated.as_of_date = engagement.as_of_date
    left join service
        on
            orders_aggregated.customer_id = service.customer_id
            and orders_aggregated.as_of_date = service.as_of_date
    left join payments
        on
            orders_aggregated.customer_id = payments.customer_id
            and orders_aggregated.as_of_date = payments.as_of_date
    left join contacts
        on
            orders_aggregated.customer_id = contacts.customer_id
            and orders_aggregated.as_of_date = contacts.as_of_date
    left join customers
        on orders_aggregated.customer_id = customers.customer_id
),

-- R1: a scoring system of several indicators instead of one cut-off. Each indicator is
-- documented in marts/core/_core__models.yml; churn_risk_score is their sum.
indicators as (
    select
        *,
        case
            when median_gap_days is null and recency_days > 2 * {{ var('one_time_buyer_overdue_days') }}
                then 2
            when median_gap_days is null and recency_days > {{ var('one_time_buyer_overdue_days') }} then 1
            when recency_vs_cadence > 3 then 2
            when recency_vs_cadence > 1.5 then 1
            else 0
        end as indicator_overdue,
        case
            when purchase_count_prev_90d > 0 and purchase_count_90d < purchase_count_prev_90d then 1 else 0
        end as indicator_falling_frequency,
        case
            when monetary_prev_90d > 0 and monetary_90d < 0.5 * monetary_prev_90d then 1 else 0
        end as indicator_falling_value,
        case
            when cart_adds_90d + inquiries_90d > 0 and purchase_count_90d = 0 then 1 else 0
        end as indicator_intent_not_converting,
        case
            when emails_sent_90d >= 2 and email_opens_90d = 0 and email_opens_prev_90d > 0 then 1
            when calls_unanswered_180d >= 2 and calls_answered_180d = 0 then 1
            else 0
        end as indicator_disengaged,
        case
            when campaign_joins + forum_contributions + survey_responses > 0 and participations_180d = 0
                then 1
            else 0
        end as indicator_stopped_participating,
        case when open_tickets > 0 then 1 else 0 end as indicator_unresolved_dispute
    from joined
    where recency_days <= {{ var('long_lost_after_days') }}
),

scored as (
    select
        *,
        indicator_overdue + indicator_falling_frequency + indicator_falling_value
        + indicator_intent_not_converting + indicator_disengaged + indicator_stopped_participating
        + indicator_unresolved_dispute as churn_risk_score
    from indicators
),

statuses as (
    select
        *,
        case
            when recency_days > {{ var('lost_after_days') }} then 'lost'
            when indicator_overdue = 2 then 'lapsed'
            when churn_risk_score >= 3 or (indicator_overdue = 1 and churn_risk_score >= 2) then 'at_risk'
            when churn_risk_score >= 1 then 'cooling'
            else 'active'
        end as lapse_status
    from scored
),

final as (
    select
        statuses.*,
        snapshots.is_scoring_snapshot,
        snapshots.is_label_observed,
        -- Label: no paid, non-refunded order within (as_of, as_of + horizon].
        case
            when snapshots.is_label_observed then coalesce(labels.purchases_in_horizon, 0) = 0
        end as is_churned
    from statuses
    inner join snapshots
        on statuses.as_of_date = snapshots.as_of_date
    left join labels
        on
            statuses.as_of_date = labels.as_of_date
            and statuses.customer_id = labels.customer_id
)

select * from final
