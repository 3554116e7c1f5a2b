-- Engagement per customer per snapshot from events seen by the end of the as-of day:
-- R1 (intent that no longer converts, stopped opening emails or answering calls,
-- stopped taking part) and R4 (advocacy: referrals, reviews, forum, surveys,
-- suggestions, campaigns). A referral counts as converted only if the referred
-- customer bought by the as-of date.
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

first_purchases as (
    select
        customer_id,
        min(ordered_at) as first_purchase_at
    from orders
    where is_purchase
    group by customer_id
),

history as (
    select
        snapshots.as_of_date,
        events.customer_id,
        events.event_type,
        events.event_value,
        events.occurred_at,
        first_purchases.first_purchase_at < snapshots.as_of_end_at as is_referral_converted,
        {{ dbt.datediff('cast(events.occurred_at as date)', 'snapshots.as_of_date', 'day') }} as days_before_as_of
    from snapshots
    inner join events
        on snapshots.as_of_end_at > events.occurred_at
    left join first_purchases
        on
            events.event_type = 'referral'
            and events.ref_id = first_purchases.customer_id
),

final as (
    select
        customer_id,
        as_of_date,
        count(*) filter (where event_type = 'site_visit' and days_before_as_of < 90) as site_visits_90d,
        count(*) filter (where event_type = 'cart_add' and days_before_as_of < 90) as cart_adds_90d,
        count(*) filter (where event_type = 'inquiry' and days_before_as_of < 90) as inquiries_90d,
        count(*) filter (where event_type = 'email_sent' and days_before_as_of < 90) as emails_sent_90d,
        count(*) filter (where event_type = 'email_open' and days_before_as_of < 90) as email_opens_90d,
        count(*) filter (
            where event_type = 'email_open' and days_before_as_of >= 90 and days_before_as_of < 180
        ) as email_opens_prev_90d,
        count(*) filter (where event_type = 'email_click' and days_before_as_of < 90) as email_clicks_90d,
        count(*) filter (where event_type = 'call_answered' and days_before_as_of < 180) as calls_answered_180d,
        count(*) filter (
            where event_type = 'call_unanswered' and days_before_as_of < 180
        ) as calls_unanswered_180d,
        min(days_before_as_of) filter (where event_type = 'email_open') as days_since_email_open,
        min(days_before_as_of) filter (where event_type = 'site_visit') as days_since_site_visit,
        count(*) filter (where event_type = 'referral') as referrals,
        count(*) filter (where event_type = 'referral' and is_referral_converted) as referrals_converted,
        count(*) filter (where event_type = 'review') as reviews,
        avg(event_value) filter (where event_type = 'review') as avg_review_rating,
        count(*) filter (where event_type in ('forum_post', 'forum_answer')) as forum_contributions,
        count(*) filter (where event_type = 'survey_response') as survey_responses,
        count(*) filter (where event_type = 'suggestion') as suggestions,
        count(*) filter (where event_type = 'campaign_join') as campaign_joins,
        count(*) filter (
            where event_type in ('campaign_join', 'forum_post', 'forum_answer', 'survey_response')
            and days_before_as_of < 180
        ) as participations_180d,
        arg_max(event_value, occurred_at) filter (where event_type = 'nps') as last_nps
    from history
    group by customer_id, as_of_date
)

select * from final
