-- Issue 17: planned win-back contacts against the sender's log. One row per contact key:
-- every contact a published list planned (winback_contact_plan, all as-of dates) and every
-- win-back key the log names that no list planned. Its latest logged status decides the
-- reconciliation; a planned contact without a log row is not_logged once its time is
-- before the end of the run's as-of day, pending after.
{%- set day_end = "cast(cast('" ~ winback.run_value('as_of_date') ~ "' as date) + 1 as timestamp)" %}

with

planned as (
    select * from {{ ref('winback_contact_plan') }}
),

contact_log as (
    select * from {{ ref('stg_shop__contact_log') }}
    where contact_kind = 'winback'
),

ranked as (
    select
        contact_key,
        customer_id,
        channel,
        contact_status,
        status_at,
        row_number() over (
            partition by contact_key
            order by
                status_at desc,
                -- Same time: the status that matters most for the next contact wins.
                case contact_status
                    when 'unsubscribed' then 1
                    when 'opted_out' then 2
                    when 'bounced' then 3
                    when 'failed' then 4
                    else 5
                end
        ) as recency_rank
    from contact_log
),

logged as (
    select
        contact_key,
        count(*) as log_rows,
        max(customer_id) as customer_id,
        max(channel) as channel,
        max(case when recency_rank = 1 then contact_status end) as last_status,
        max(status_at) as last_status_at,
        max(case when contact_status = 'sent' then 1 else 0 end) = 1 as is_sent,
        max(case when contact_status = 'failed' then 1 else 0 end) = 1 as is_failed,
        max(case when contact_status = 'bounced' then 1 else 0 end) = 1 as is_bounced,
        max(case when contact_status in ('opted_out', 'unsubscribed') then 1 else 0 end) = 1
            as is_opted_out
    from ranked
    group by contact_key
),

final as (
    select
        coalesce(planned.contact_key, logged.contact_key) as contact_key,
        planned.as_of_date,
        planned.campaign_id,
        coalesce(planned.customer_id, logged.customer_id) as customer_id,
        coalesce(planned.channel, logged.channel) as channel,
        planned.step,
        planned.contact_at as planned_at,
        planned.contact_key is not null as is_planned,
        coalesce(logged.log_rows, 0) as log_rows,
        logged.last_status,
        logged.last_status_at,
        coalesce(logged.is_sent, false) as is_sent,
        coalesce(logged.is_failed, false) as is_failed,
        coalesce(logged.is_bounced, false) as is_bounced,
        coalesce(logged.is_opted_out, false) as is_opted_out,
        case
            when planned.contact_key is null then 'unplanned'
            when logged.last_status in ('opted_out', 'unsubscribed') then 'opted_out'
            when logged.last_status is not null then logged.last_status
            when planned.contact_at < {{ day_end }} then 'not_logged'
            else 'pending'
        end as reconciliation
    from planned
    full outer join logged
        on planned.contact_key = logged.contact_key
)

select * from final
