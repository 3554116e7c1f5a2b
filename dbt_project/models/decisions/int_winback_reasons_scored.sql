-- R7: why a customer is leaving, as a confidence per reason. One row per customer per
-- reason for the scoring snapshot, plus the earlier snapshots at which past campaign
-- contacts read their customer's reasons (int_winback_past_contacts_dated: the latest snapshot on or before the contact;
-- see int_winback_offer_uplift_estimated). Scoring every customer at every snapshot
-- (7 reasons × 8M rows at 1M customers) cost two minutes for rows nobody read.
-- Evidence points per reason: disputes by kind (unresolved ones and those near the end of
-- the relationship weigh more), behaviour (cadence broken, spend falling, price-driven
-- buying, stopped engaging, browsing without buying) and, on the scoring snapshot, the
-- churn model's reason codes. Each reason has a base weight so that a customer without
-- evidence gets roughly the usual mix of reasons (price most often, then forgetting); confidence = points / all points of the customer.
{%- set model_hints = {
    'price': ['%discount%', '%price%'],
    'logistics': ['%delivery%'],
    'quality': ['%product-quality%', '%returned%'],
    'service_attitude': ['%service-attitude%', '%customer service%', '%complaint%'],
    'forgot': ['%overdue%', '%long time since%', '%stopped opening%', '%no longer opens%', '%not visited%'],
    'needs_changed': ['%spending less%', '%buying less%'],
    'competitor': ['%no longer turn into orders%', '%visits the shop less%'],
} %}

with

customer_features as (
    select * from {{ ref('customer_features') }}
),

past_contacts as (
    select * from {{ ref('int_winback_past_contacts_dated') }}
),

-- The snapshots past contacts read their customer's reasons at.
contacted_snapshots as (
    select distinct
        customer_id,
        reason_as_of_date as as_of_date
    from past_contacts
),

features as (
    select customer_features.*
    from customer_features
    where customer_features.is_scoring_snapshot
    union all
    select customer_features.*
    from customer_features
    inner join contacted_snapshots
        on
            customer_features.customer_id = contacted_snapshots.customer_id
            and customer_features.as_of_date = contacted_snapshots.as_of_date
    where not customer_features.is_scoring_snapshot
),

candidates as (
    select * from {{ ref('int_winback_candidates_valued') }}
),

reasons as (
    select * from {{ ref('winback_reasons') }}
),

weighted as (
    select
        features.customer_id,
        features.as_of_date,
        features.is_scoring_snapshot,
        features.discounted_purchase_share,
        features.disputes_price,
        features.disputes_logistics,
        features.disputes_product,
        features.disputes_attitude,
        features.unresolved_price,
        features.unresolved_logistics,
        features.unresolved_product,
        features.unresolved_attitude,
        features.refund_count,
        features.avg_review_rating,
        features.avg_ticket_satisfaction,
        features.indicator_overdue,
        features.indicator_disengaged,
        features.indicator_falling_value,
        features.indicator_falling_frequency,
        features.indicator_intent_not_converting,
        features.days_since_email_open,
        features.tickets_lifetime,
        features.purchase_count,
        features.purchase_count_90d,
        features.site_visits_90d,
        features.tenure_days,
        features.recency_days,
        candidates.model_reason_1,
        candidates.model_reason_2,
        candidates.model_reason_3,
        -- Tickets shortly before (or after) the last purchase explain the leaving better
        -- than old ones.
        case
            when features.days_since_ticket is null then 0.0
            when features.days_since_ticket <= features.recency_days + 90 then 1.0
            else 0.4
        end as ticket_weight
    from features
    left join candidates
        on
            features.customer_id = candidates.customer_id
            and features.as_of_date = candidates.as_of_date
),

points as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
        model_reason_1,
        model_reason_2,
        model_reason_3,
        discounted_purchase_share,
        disputes_price,
        disputes_logistics,
        disputes_product,
        disputes_attitude,
        0.9
        + 0.6 * coalesce(discounted_purchase_share, 0)
        + 1.5 * least(disputes_price, 2) * ticket_weight
        + 1.5 * least(unresolved_price, 1) as points_price,
        0.25
        + 1.5 * least(disputes_logistics, 3) * ticket_weight
        + 2.0 * least(unresolved_logistics, 2) as points_logistics,
        0.25
        + 1.5 * least(disputes_product, 3) * ticket_weight
        + 2.0 * least(unresolved_product, 2)
        + 0.5 * least(refund_count, 2)
        + case when avg_review_rating < 3 then 0.75 else 0 end as points_quality,
        0.15
        + 2.0 * least(disputes_attitude, 3) * ticket_weight
        + 2.5 * least(unresolved_attitude, 2)
        + case when avg_ticket_satisfaction <= 2 then 0.75 else 0 end as points_service_attitude,
        0.5
        + 0.1 * indicator_overdue
        + 0.3 * indicator_disengaged
        + case when days_since_email_open is null or days_since_email_open > 120 then 0.1 else 0 end
        + case when tickets_lifetime = 0 then 0.2 else 0 end as points_forgot,
        0.4
        + case when tenure_days > 730 then 0.2 else 0 end
        + 0.3 * indicator_falling_value
        + 0.2 * indicator_falling_frequency
        + case when site_visits_90d > 0 then 0.2 else 0 end as points_needs_changed,
        -- noqa: disable=LT02
        0.5
        + 0.4 * indicator_intent_not_converting
        + case when site_visits_90d > 0 and purchase_count_90d = 0 then 0.2 else 0 end
        + 0.3 * coalesce(discounted_purchase_share, 0) as points_competitor
        {%- for reason, patterns in model_hints.items() %},
        {% for position, weight in [(1, 0.8), (2, 0.55), (3, 0.4)] -%}
            {{ '+ ' if not loop.first }}case
                when coalesce(
                    {%- for pattern in patterns %}
                        {{ 'or ' if not loop.first }}lower(model_reason_{{ position }}) like '{{ pattern }}'
                    {%- endfor %}, false
                ) then {{ weight }} else 0
            end
        {% endfor -%} as hint_{{ reason }}
        {%- endfor %}  -- noqa: enable=LT02
    from weighted
),

long_points as (
    select
        points.customer_id,
        points.as_of_date,
        points.is_scoring_snapshot,
        reasons.reason,
        reasons.label as reason_label,
        -- Evidence points plus the churn model's own reason codes (strongest first).
        case reasons.reason
            {%- for reason in model_hints %}
                when '{{ reason }}' then points.points_{{ reason }} + points.hint_{{ reason }}
            {%- endfor %}
        end as reason_points,
        case reasons.reason
            when 'price'
                then concat_ws(
                    ', ',
                    case
                        when points.discounted_purchase_share >= 0.3
                            then cast(round(100 * points.discounted_purchase_share) as integer) || '% of purchases on discount'
                    end,
                    case when points.disputes_price > 0 then points.disputes_price || ' price complaint(s)' end
                )
            when 'logistics'
                then case
                    when points.disputes_logistics > 0 then points.disputes_logistics || ' delivery dispute(s)'
                end
            when 'quality'
                then case
                    when points.disputes_product > 0 then points.disputes_product || ' product dispute(s)'
                end
            when 'service_attitude' then case
                when points.disputes_attitude > 0 then points.disputes_attitude || ' service-attitude dispute(s)'
            end
        end as reason_evidence
    from points
    cross join reasons
),

final as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
        reason,
        reason_label,
        reason_points,
        reason_points / sum(reason_points) over (partition by customer_id, as_of_date) as reason_confidence,
        row_number() over (
            partition by customer_id, as_of_date order by reason_points desc, reason asc
        ) as reason_rank,
        nullif(reason_evidence, '') as reason_evidence
    from long_points
)

select * from final
