-- Engagement per customer per snapshot from events seen by the end of the as-of day:
-- R1 (intent that no longer converts, stopped opening emails or answering calls,
-- stopped taking part) and R4 (advocacy: referrals, reviews, forum, surveys,
-- suggestions, campaigns). A referral counts as converted only if the referred
-- customer bought by the as-of date.
--
-- Scale: joining every event to every later snapshot grows as events × snapshots (it
-- ran out of memory at 1M customers). Instead, lifetime figures are aggregated once per
-- customer and "bucket" — the oldest snapshot an event is visible to — and summed over
-- the buckets each snapshot sees; only the 90/180-day windows join events to snapshots,
-- bounded to 180 days; referrals (rare) keep a per-snapshot join for their conversion.
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

params as (
    select
        cast('{{ run_value('as_of_date') }}' as date) as run_as_of_date,
        {{ var("snapshot_cadence_days") }} as cadence_days,
        {{ var("snapshot_count") }} as snapshot_count
),

first_purchases as (
    select
        customer_id,
        min(ordered_at) as first_purchase_at
    from orders
    where is_purchase
    group by customer_id
),

-- Snapshot i (as of run date − i × cadence) sees an event of day d iff
-- i <= (run date − d) / cadence, so the event's bucket is that quotient, capped.
events_bucketed as (
    select
        events.*,
        least(
            floor(
                {{ dbt.datediff('cast(events.occurred_at as date)', 'params.run_as_of_date', 'day') }}
                / params.cadence_days
            ),
            params.snapshot_count - 1
        ) as bucket
    from events
    cross join params
),

bucketed as (
    select
        customer_id,
        bucket,
        count(*) filter (where event_type = 'review') as reviews,
        sum(event_value) filter (where event_type = 'review') as review_rating_sum,
        count(event_value) filter (where event_type = 'review') as review_ratings,
        count(*) filter (where event_type in ('forum_post', 'forum_answer')) as forum_contributions,
        count(*) filter (where event_type = 'survey_response') as survey_responses,
        count(*) filter (where event_type = 'suggestion') as suggestions,
        count(*) filter (where event_type = 'campaign_join') as campaign_joins,
        max(occurred_at) filter (where event_type = 'email_open') as last_email_open_at,
        max(occurred_at) filter (where event_type = 'site_visit') as last_site_visit_at,
        max(occurred_at) filter (where event_type = 'nps') as last_nps_at,
        {{ winback.arg_max('event_value', 'occurred_at') }} filter (where event_type = 'nps') as last_nps
    from events_bucketed
    group by customer_id, bucket
),

lifetime as (
    select
        bucketed.customer_id,
        snapshots.as_of_date,
        cast(sum(bucketed.reviews) as bigint) as reviews,
        sum(bucketed.review_rating_sum) / nullif(sum(bucketed.review_ratings), 0) as avg_review_rating,
        cast(sum(bucketed.forum_contributions) as bigint) as forum_contributions,
        cast(sum(bucketed.survey_responses) as bigint) as survey_responses,
        cast(sum(bucketed.suggestions) as bigint) as suggestions,
        cast(sum(bucketed.campaign_joins) as bigint) as campaign_joins,
        {{ dbt.datediff('cast(max(bucketed.last_email_open_at) as date)', 'snapshots.as_of_date', 'day') }}
            as days_since_email_open,
        {{ dbt.datediff('cast(max(bucketed.last_site_visit_at) as date)', 'snapshots.as_of_date', 'day') }}
            as days_since_site_visit,
        {{ winback.arg_max('bucketed.last_nps', 'bucketed.last_nps_at') }} filter (
            where bucketed.last_nps_at is not null
        ) as last_nps
    from snapshots
    inner join bucketed
        on snapshots.snapshot_index <= bucketed.bucket
    group by bucketed.customer_id, snapshots.as_of_date
),

recent as (
    select
        snapshots.as_of_date,
        events.customer_id,
        events.event_type,
        {{ dbt.datediff('cast(events.occurred_at as date)', 'snapshots.as_of_date', 'day') }} as days_before_as_of
    from snapshots
    inner join events
        on
            snapshots.as_of_end_at > events.occurred_at
            and {{ dbt.dateadd('day', '-180', 'snapshots.as_of_end_at') }} <= events.occurred_at
    where events.event_type in (
        'site_visit', 'cart_add', 'inquiry', 'email_sent', 'email_open', 'email_click',
        'call_answered', 'call_unanswered', 'campaign_join', 'forum_post', 'forum_answer',
        'survey_response'
    )
),

windows as (
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
        count(*) filter (
            where event_type in ('campaign_join', 'forum_post', 'forum_answer', 'survey_response')
            and days_before_as_of < 180
        ) as participations_180d
    from recent
    group by customer_id, as_of_date
),

referrals as (
    select
        events.customer_id,
        snapshots.as_of_date,
        count(*) as referrals,
        count(*) filter (where first_purchases.first_purchase_at < snapshots.as_of_end_at)
            as referrals_converted
    from snapshots
    inner join events
        on
            events.event_type = 'referral'
            and snapshots.as_of_end_at > events.occurred_at
    left join first_purchases
        on events.ref_id = first_purchases.customer_id
    group by events.customer_id, snapshots.as_of_date
),

final as (
    select
        lifetime.customer_id,
        lifetime.as_of_date,
        coalesce(windows.site_visits_90d, 0) as site_visits_90d,
        coalesce(windows.cart_adds_90d, 0) as cart_adds_90d,
        coalesce(windows.inquiries_90d, 0) as inquiries_90d,
        coalesce(windows.emails_sent_90d, 0) as emails_sent_90d,
        coalesce(windows.email_opens_90d, 0) as email_opens_90d,
        coalesce(windows.email_opens_prev_90d, 0) as email_opens_prev_90d,
        coalesce(windows.email_clicks_90d, 0) as email_clicks_90d,
        coalesce(windows.calls_answered_180d, 0) as calls_answered_180d,
        coalesce(windows.calls_unanswered_180d, 0) as calls_unanswered_180d,
        lifetime.days_since_email_open,
        lifetime.days_since_site_visit,
        coalesce(referrals.referrals, 0) as referrals,
        coalesce(referrals.referrals_converted, 0) as referrals_converted,
        lifetime.reviews,
        lifetime.avg_review_rating,
        lifetime.forum_contributions,
        lifetime.survey_responses,
        lifetime.suggestions,
        lifetime.campaign_joins,
        coalesce(windows.participations_180d, 0) as participations_180d,
        lifetime.last_nps
    from lifetime
    left join windows
        on
            lifetime.customer_id = windows.customer_id
            and lifetime.as_of_date = windows.as_of_date
    left join referrals
        on
            lifetime.customer_id = referrals.customer_id
            and lifetime.as_of_date = referrals.as_of_date
)

select * from final
