-- Engagement per customer per snapshot from events seen by the end of the as-of day:
-- R1 (intent that no longer converts, stopped opening emails or answering calls,
-- stopped taking part) and R4 (advocacy: referrals, reviews, forum, surveys,
-- suggestions, campaigns). A referral counts as converted only if the referred
-- customer bought by the as-of date.
--
-- Scale: joining every event to every snapshot that sees it grows as events × snapshots
-- (it ran out of memory at 1M customers, and the 90/180-day windows alone were 81M
-- rows). Instead, days are counted back from the run's as-of date and cut into segments
-- at every day a snapshot starts seeing data (its days before the run, d) or a window of
-- one starts or ends (d + 90 / 180): a segment is then either wholly inside or wholly
-- outside each snapshot's lifetime and each of its windows. Events are counted once per
-- customer and segment (each segment a time-range scan of its own, so every aggregation
-- holds at most one row per customer), the segment rows are sorted by customer and joined
-- to the snapshots that see them, and each snapshot sums its segments. Only integer
-- counts, maxima and integer-valued ratings are added up across segments, so the result
-- does not depend on how the events are cut (so a build cuts only at the snapshots it
-- computes).
-- A referral is converted for the snapshots that see both it and the referred customer's
-- first purchase, i.e. from the segment of the later of the two.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
{%- set run_date = modules.datetime.date.fromisoformat(run_value('as_of_date') | string) %}
{#- Segment starts, in days before the run's as-of date; the last segment is open-ended.
    Cut only at the snapshots this build computes: an incremental night computes the
    newest one (three cuts, not one per snapshot and window), and the sums do not depend
    on the cuts. #}
{%- set starts = [] %}
{%- for days_before_run in winback.snapshot_days_before_run_to_build('rebuild_aggregates') %}
    {%- for window_days in [0, 90, 180] %}
        {%- if days_before_run + window_days not in starts %}
            {%- do starts.append(days_before_run + window_days) %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}
{%- set starts = starts | sort %}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_aggregates') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

params as (
    select cast('{{ run_date.isoformat() }}' as date) as run_as_of_date
),

segments as (
    {%- for start in starts %}
        select
            {{ loop.index0 }} as segment_index,
            {{ start }} as start_days
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

-- Which snapshots see each segment (it starts on or after their as-of day, counting
-- back), and whether it lies in their last 90, the 90 before those, or the last 180 days.
visibility as (
    select
        snapshots.as_of_date,
        segments.segment_index,
        case when segments.start_days < snapshots.days_before_run + 90 then 1 else 0 end
            as in_last_90d,
        case
            when
                segments.start_days >= snapshots.days_before_run + 90
                and segments.start_days < snapshots.days_before_run + 180
                then 1
            else 0
        end as in_previous_90d,
        case when segments.start_days < snapshots.days_before_run + 180 then 1 else 0 end
            as in_last_180d
    from snapshots
    inner join segments
        on snapshots.days_before_run <= segments.start_days
),

first_purchases as (
    select
        customer_id,
        min(ordered_at) as first_purchase_at
    from orders
    where is_purchase
    group by customer_id
),

-- A referral is converted from the later of its own day and the referred customer's first
-- purchase on (the smaller day count before the run's as-of date).
referrals_dated as (
    select
        events.customer_id,
        least(
            {{ dbt.datediff('cast(events.occurred_at as date)', 'params.run_as_of_date', 'day') }},
            {{ dbt.datediff('cast(first_purchases.first_purchase_at as date)', 'params.run_as_of_date', 'day') }}
        ) as converted_days_before_run
    from {{ ref('stg_shop__events') }} as events
    inner join first_purchases
        on events.ref_id = first_purchases.customer_id
    cross join params
    where events.event_type = 'referral'
),

converted_referrals as (
    select
        customer_id,
        case
            {%- for start in starts[1:] %}
                when converted_days_before_run < {{ start }} then {{ loop.index0 }}
            {%- endfor %}
            else {{ starts | length - 1 }}
        end as segment_index
    from referrals_dated
    where converted_days_before_run >= 0
),

-- One row per customer and segment. Each segment reads the event table itself with
-- constant time bounds (a scan of that time range only, not of a shared copy).
segmented as (
    {%- for start in starts %}
        select
            customer_id,
            {{ loop.index0 }} as segment_index,
            count(*) filter (where event_type = 'site_visit') as site_visits,
            count(*) filter (where event_type = 'cart_add') as cart_adds,
            count(*) filter (where event_type = 'inquiry') as inquiries,
            count(*) filter (where event_type = 'email_sent') as emails_sent,
            count(*) filter (where event_type = 'email_open') as email_opens,
            count(*) filter (where event_type = 'email_click') as email_clicks,
            count(*) filter (where event_type = 'call_answered') as calls_answered,
            count(*) filter (where event_type = 'call_unanswered') as calls_unanswered,
            count(*) filter (
                where event_type in ('campaign_join', 'forum_post', 'forum_answer', 'survey_response')
            ) as participations,
            count(*) filter (where event_type = 'referral') as referrals,
            cast(0 as bigint) as referrals_converted,
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
        from {{ ref('stg_shop__events') }}
        where
            -- days before the run's as-of date in [{{ start }}, {{ starts[loop.index] if not loop.last else 'no end' }})
            occurred_at < cast('{{ (run_date - modules.datetime.timedelta(days=start - 1)).isoformat() }}' as timestamp)
            {%- if not loop.last %}
                and occurred_at
                >= cast('{{ (run_date - modules.datetime.timedelta(days=starts[loop.index] - 1)).isoformat() }}' as timestamp)
            {%- endif %}
        group by customer_id
        union all
    {%- endfor %}
    select
        customer_id,
        segment_index,
        0 as site_visits,
        0 as cart_adds,
        0 as inquiries,
        0 as emails_sent,
        0 as email_opens,
        0 as email_clicks,
        0 as calls_answered,
        0 as calls_unanswered,
        0 as participations,
        0 as referrals,
        count(*) as referrals_converted,
        0 as reviews,
        cast(null as double) as review_rating_sum,
        0 as review_ratings,
        0 as forum_contributions,
        0 as survey_responses,
        0 as suggestions,
        0 as campaign_joins,
        cast(null as timestamp) as last_email_open_at,
        cast(null as timestamp) as last_site_visit_at,
        cast(null as timestamp) as last_nps_at,
        cast(null as double) as last_nps
    from converted_referrals
    group by customer_id, segment_index
),

-- Sorted by customer, so the join below hands each snapshot's sums their rows together.
segmented_by_customer as (
    select * from segmented
    order by customer_id
),

summed as (
    select
        segmented_by_customer.customer_id,
        visibility.as_of_date,
        cast(sum(segmented_by_customer.site_visits * visibility.in_last_90d) as bigint) as site_visits_90d,
        cast(sum(segmented_by_customer.cart_adds * visibility.in_last_90d) as bigint) as cart_adds_90d,
        cast(sum(segmented_by_customer.inquiries * visibility.in_last_90d) as bigint) as inquiries_90d,
        cast(sum(segmented_by_customer.emails_sent * visibility.in_last_90d) as bigint) as emails_sent_90d,
        cast(sum(segmented_by_customer.email_opens * visibility.in_last_90d) as bigint) as email_opens_90d,
        cast(sum(segmented_by_customer.email_opens * visibility.in_previous_90d) as bigint)
            as email_opens_prev_90d,
        cast(sum(segmented_by_customer.email_clicks * visibility.in_last_90d) as bigint) as email_clicks_90d,
        cast(sum(segmented_by_customer.calls_answered * visibility.in_last_180d) as bigint)
            as calls_answered_180d,
        cast(sum(segmented_by_customer.calls_unanswered * visibility.in_last_180d) as bigint)
            as calls_unanswered_180d,
        cast(sum(segmented_by_customer.participations * visibility.in_last_180d) as bigint)
            as participations_180d,
        {{ dbt.datediff('cast(max(segmented_by_customer.last_email_open_at) as date)', 'visibility.as_of_date', 'day') }}
            as days_since_email_open,
        {{ dbt.datediff('cast(max(segmented_by_customer.last_site_visit_at) as date)', 'visibility.as_of_date', 'day') }}
            as days_since_site_visit,
        cast(sum(segmented_by_customer.referrals) as bigint) as referrals,
        cast(sum(segmented_by_customer.referrals_converted) as bigint) as referrals_converted,
        cast(sum(segmented_by_customer.reviews) as bigint) as reviews,
        sum(segmented_by_customer.review_rating_sum) / nullif(sum(segmented_by_customer.review_ratings), 0)
            as avg_review_rating,
        cast(sum(segmented_by_customer.forum_contributions) as bigint) as forum_contributions,
        cast(sum(segmented_by_customer.survey_responses) as bigint) as survey_responses,
        cast(sum(segmented_by_customer.suggestions) as bigint) as suggestions,
        cast(sum(segmented_by_customer.campaign_joins) as bigint) as campaign_joins,
        {{ winback.arg_max('segmented_by_customer.last_nps', 'segmented_by_customer.last_nps_at') }} filter (
            where segmented_by_customer.last_nps_at is not null
        ) as last_nps
    from segmented_by_customer
    inner join visibility
        on segmented_by_customer.segment_index = visibility.segment_index
    group by segmented_by_customer.customer_id, visibility.as_of_date
),

final as (
    select
        customer_id,
        as_of_date,
        site_visits_90d,
        cart_adds_90d,
        inquiries_90d,
        emails_sent_90d,
        email_opens_90d,
        email_opens_prev_90d,
        email_clicks_90d,
        calls_answered_180d,
        calls_unanswered_180d,
        days_since_email_open,
        days_since_site_visit,
        referrals,
        referrals_converted,
        reviews,
        avg_review_rating,
        forum_contributions,
        survey_responses,
        suggestions,
        campaign_joins,
        participations_180d,
        last_nps
    from summed
)

select * from final
