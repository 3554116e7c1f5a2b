-- R7: why a customer is leaving, as evidence points, a rank and a confidence per reason, one
-- row per customer and snapshot with the reasons side by side: the scoring snapshot, plus the
-- earlier snapshots at which the past campaign contacts whose response rows this build
-- computes read their customer's reasons (int_winback_contacts_to_describe: the latest
-- snapshot on or before the contact). The response model reads the confidences as they
-- are here (int_winback_response_rows, int_winback_allocation_candidates);
-- int_winback_reasons_scored lists the scoring
-- snapshot one row per reason. Scoring every customer at every snapshot (7 reasons x 8M
-- rows at 1M customers) cost two minutes for rows nobody read.
-- Evidence points per reason: disputes by kind (unresolved ones and those near the end of
-- the relationship weigh more), behaviour (cadence broken, spend falling, price-driven
-- buying, stopped engaging, browsing without buying) and, on the scoring snapshot, the
-- churn model's reason codes. Each reason has a base weight so that a customer without
-- evidence gets roughly the usual mix of reasons (price most often, then forgetting); confidence = points / all points of the customer.
-- The total adds the points strongest first (rank order), so it is the same on every run
-- and thread count.
{#- The reasons of the seed winback_reasons, which must list the same ones. -#}
{%- set reason_names = winback.reason_names() %}

with

customer_features as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
        discounted_purchase_share,
        disputes_price,
        disputes_logistics,
        disputes_product,
        disputes_attitude,
        unresolved_price,
        unresolved_logistics,
        unresolved_product,
        unresolved_attitude,
        refund_count,
        avg_review_rating,
        avg_ticket_satisfaction,
        indicator_overdue,
        indicator_disengaged,
        indicator_falling_value,
        indicator_falling_frequency,
        indicator_intent_not_converting,
        days_since_email_open,
        days_since_ticket,
        tickets_lifetime,
        purchase_count_90d,
        site_visits_90d,
        tenure_days,
        recency_days
    from {{ ref('customer_features') }}
),

-- Issue 19: only the contacts whose response rows this build computes (the others keep
-- theirs: int_winback_contacts_to_describe).
past_contacts as (
    select * from {{ ref('int_winback_contacts_to_describe') }}
),

-- The snapshots past contacts read their customer's reasons at.
contacted_snapshots as (
    select distinct
        customer_id,
        reason_as_of_date as as_of_date
    from past_contacts
),

-- The scoring snapshot and the contacted snapshots, in one scan of the features.
features as (
    select customer_features.*
    from customer_features
    left join contacted_snapshots
        on
            customer_features.customer_id = contacted_snapshots.customer_id
            and customer_features.as_of_date = contacted_snapshots.as_of_date
    where
        customer_features.is_scoring_snapshot
        or contacted_snapshots.customer_id is not null
),

candidates as (
    select * from {{ ref('int_winback_candidates_valued') }}
),

-- The churn model's reason codes and the win-back reason each is evidence for (the seed
-- model_reason_codes, which scoring renders its phrases from): matched by code, never by
-- the words of a phrase.
model_reason_codes as (
    select
        code,
        winback_reason
    from {{ ref('model_reason_codes') }}
    where winback_reason is not null
),

-- Points from the model's reason codes, strongest first (scoring snapshot candidates).
candidate_hints as (
    select
        candidates.customer_id,
        {% for reason in reason_names %}
            {% for position, weight in [(1, 0.8), (2, 0.55), (3, 0.4)] %}
                {{ '+ ' if not loop.first }}case
                    when matches_{{ position }}.winback_reason = '{{ reason }}' then {{ weight }} else 0
                end
            {% endfor %} as hint_{{ reason }},
        {% endfor %}
        candidates.as_of_date
    from candidates
    {% for position in [1, 2, 3] %}
        left join model_reason_codes as matches_{{ position }}
            on candidates.model_reason_{{ position }}_code = matches_{{ position }}.code
    {% endfor %}
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
        features.purchase_count_90d,
        features.site_visits_90d,
        features.tenure_days,
        {% for reason in reason_names %}
            coalesce(candidate_hints.hint_{{ reason }}, 0) as hint_{{ reason }},
        {% endfor %}
        -- Tickets shortly before (or after) the last purchase explain the leaving better
        -- than old ones.
        case
            when features.days_since_ticket is null then 0.0
            when features.days_since_ticket <= features.recency_days + 90 then 1.0
            else 0.4
        end as ticket_weight
    from features
    left join candidate_hints
        on
            features.customer_id = candidate_hints.customer_id
            and features.as_of_date = candidate_hints.as_of_date
),

points as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
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
        {% for reason in reason_names %}
            hint_{{ reason }},
        {% endfor %}
        0.5
        + 0.4 * indicator_intent_not_converting
        + case when site_visits_90d > 0 and purchase_count_90d = 0 then 0.2 else 0 end
        + 0.3 * coalesce(discounted_purchase_share, 0) as points_competitor
    from weighted
),

-- Evidence points plus the churn model's own reason codes (strongest first), one column
-- per reason.
scored as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
        discounted_purchase_share,
        disputes_price,
        disputes_logistics,
        disputes_product,
        {% for reason in reason_names %}
            cast(points_{{ reason }} + hint_{{ reason }} as double) as reason_points_{{ reason }},
        {% endfor %}
        disputes_attitude
    from points
),

-- Rank of each reason: most points first, ties to the first name, no points last (what
-- row_number() over the customer's reasons ordered by points desc, reason gave).
ranked as (
    select
        {% for reason in reason_names %}
            1
            {% for other in reason_names %}
                {% if other < reason %}
                    + case
                        when coalesce(reason_points_{{ other }} >= reason_points_{{ reason }}, reason_points_{{ reason }} is null)
                            then 1
                        else 0
                    end
                {% elif other > reason %}
                    + case
                        when
                            coalesce(
                                reason_points_{{ other }} > reason_points_{{ reason }},
                                reason_points_{{ other }} is not null and reason_points_{{ reason }} is null
                            )
                            then 1
                        else 0
                    end
                {% endif %}
            {% endfor %} as reason_rank_{{ reason }},
        {% endfor %}
        *
    from scored
),

-- All points of the customer, added in rank order.
totalled as (
    select
        *,
        {% for rank in range(1, reason_names | length + 1) %}
            {{ '+ ' if not loop.first }}coalesce(
                case
                    {% for reason in reason_names %}
                        when reason_rank_{{ reason }} = {{ rank }} then reason_points_{{ reason }}
                    {% endfor %}
                end,
                0.0
            )
        {% endfor %} as total_points
    from ranked
),

final as (
    select
        customer_id,
        as_of_date,
        is_scoring_snapshot,
        discounted_purchase_share,
        disputes_price,
        disputes_logistics,
        disputes_product,
        disputes_attitude,
        {%- for reason in reason_names %}
            reason_points_{{ reason }},
            cast(reason_rank_{{ reason }} as bigint) as reason_rank_{{ reason }},
            reason_points_{{ reason }} / total_points as reason_conf__{{ reason }},
        {%- endfor %}
        total_points
    from totalled
)

select * from final
