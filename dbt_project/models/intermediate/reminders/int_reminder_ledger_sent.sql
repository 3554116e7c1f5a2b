-- Which payment reminders of the ledger count as sent at this run's reminder_at (issue 17).
-- Setting reminders.sent_rule: "log" counts a reminder as sent only when the sender's
-- contact_log says so (status sent for rm-<order_id>, logged by reminder_at); "time"
-- counts a scheduled reminder as sent once its time has passed (the fallback for a sender
-- that reports nothing); "auto" (default) uses the log once it holds any reminder row,
-- time until then. Only rows scheduled by earlier runs are visible to this one.
{%- set reminder_at = "cast('" ~ run_value('reminder_at') ~ "' as timestamp)" %}
{%- set rule = var('reminder_sent_rule') %}
{%- set uses_log = {'log': 'true', 'time': 'false'}.get(rule, 'counted.log_rows > 0') %}

with

ledger as (
    select * from {{ ref('stg_reminders__reminder_ledger') }}
),

contact_log as (
    select * from {{ ref('stg_shop__contact_log') }}
    where
        contact_kind = 'reminder'
        and status_at <= {{ reminder_at }}
),

logged_sent as (
    select distinct order_id
    from contact_log
    where contact_status = 'sent'
),

log_in_use as (
    -- One row whatever the log holds.
    select {{ uses_log }} as uses_log
    from (select count(*) as log_rows from contact_log) as counted
),

final as (
    select
        ledger.order_id,
        ledger.customer_id,
        ledger.status,
        ledger.remind_at,
        ledger.channel,
        ledger.customer_type,
        ledger.template_id,
        ledger.language,  -- noqa: RF04
        ledger.rendered_text,
        ledger.scheduled_at,
        log_in_use.uses_log as is_sent_by_log_rule,
        ledger.status = 'scheduled'
        and ledger.scheduled_at < {{ reminder_at }}
        and case
            when log_in_use.uses_log then logged_sent.order_id is not null
            else ledger.remind_at <= {{ reminder_at }}
        end as is_sent
    from ledger
    cross join log_in_use
    left join logged_sent
        on ledger.order_id = logged_sent.order_id
    -- Rows written by runs later than this one do not exist yet from its point of view.
    where ledger.scheduled_at <= {{ reminder_at }}
)

select * from final
