-- One decision per order pending at reminder_at: remind (when, how, which template) or
-- skip with one reason code, the first that applies in the order below. The ledger of
-- earlier runs makes every order reminded at most once and reruns idempotent: a
-- reminder an earlier run scheduled and the sender sent (int_reminder_ledger_sent: logged,
-- or due when the sender logs nothing) counts as sent; one not (yet) sent is kept as
-- scheduled (same time, channel and text) or cancelled when a rule now says skip.
{%- set max_age_hours = var('reminder_max_order_age_hours') %}

with

pending as (
    select * from {{ ref('int_pending_orders_profiled') }}
),

timing as (
    select * from {{ ref('int_pending_orders_timed') }}
),

ledger as (
    -- Whether each reminder counts as sent: setting reminders.sent_rule (issue 17).
    select * from {{ ref('int_reminder_ledger_sent') }}
),

ledger_at_run as (
    select ledger.*
    from ledger
    inner join pending
        on ledger.order_id = pending.order_id
),

decided as (
    select
        pending.*,
        timing.remind_at as fresh_remind_at,
        timing.timing_rule,
        timing.ship_cutoff_local,
        timing.deadline_at,
        timing.is_preferred_hour,
        ledger_at_run.status as ledger_status,
        ledger_at_run.remind_at as ledger_remind_at,
        -- Only a live (scheduled) ledger row pins the reminder; a cancelled one is history.
        case when ledger_at_run.status = 'scheduled' then ledger_at_run.channel end as ledger_channel,
        case when ledger_at_run.status = 'scheduled' then ledger_at_run.customer_type end as ledger_customer_type,
        case when ledger_at_run.status = 'scheduled' then ledger_at_run.template_id end as ledger_template_id,
        case when ledger_at_run.status = 'scheduled' then ledger_at_run.language end as ledger_language,
        case when ledger_at_run.status = 'scheduled' then ledger_at_run.rendered_text end as ledger_rendered_text,
        coalesce(ledger_at_run.is_sent, false) as is_already_reminded,
        case
            when ledger_at_run.is_sent then 'already_reminded'
            when pending.is_do_not_contact then 'do_not_contact'
            -- R17: distribution platforms settle late; the order may be paid already.
            when pending.is_distribution_order then 'distribution_order'
            -- R19: a closed order cannot be paid any more.
            when timing.has_deadline_passed then 'deadline_passed'
            -- R15: the customer paid another order that shop day.
            when pending.has_paid_same_day then 'paid_same_day'
            -- R16: a newer order is the customer's final decision.
            when pending.has_newer_paid_order then 'newer_order_paid'
            when pending.has_newer_unpaid_order then 'newer_unpaid_order'
            when pending.ordered_at < pending.reminder_at - interval '{{ max_age_hours }} hours' then 'order_too_old'
            -- R20: second-time buyers only with a promotion or member privilege.
            when pending.customer_type = 'second_time' and not pending.has_member_offer
                then 'second_purchase_without_offer'
            when pending.channel is null then 'no_consented_channel'
            when timing.remind_at is null and timing.deadline_at is not null then 'no_daytime_before_deadline'
            when timing.remind_at is null then 'no_daytime_window'
        end as reason_code
    from pending
    inner join timing
        on pending.order_id = timing.order_id
    left join ledger_at_run
        on pending.order_id = ledger_at_run.order_id
),

final as (
    select
        order_id,
        customer_id,
        reminder_at as decided_at,
        case when reason_code is null then 'remind' else 'skip' end as decision,
        reason_code,
        case reason_code
            when 'paid_same_day' then 'R15'
            when 'newer_order_paid' then 'R16'
            when 'newer_unpaid_order' then 'R16'
            when 'distribution_order' then 'R17'
            when 'no_daytime_window' then 'R18'
            when 'order_too_old' then 'R18'
            when 'deadline_passed' then 'R19'
            when 'no_daytime_before_deadline' then 'R19'
            when 'second_purchase_without_offer' then 'R20'
            when 'do_not_contact' then 'consent'
            when 'no_consented_channel' then 'consent'
            when 'already_reminded' then 'once'
        end as rule_id,
        -- A reminder already in the ledger keeps its time, channel and text (idempotence).
        case
            when reason_code is null and ledger_status = 'scheduled' then ledger_remind_at
            when reason_code is null then fresh_remind_at
        end as remind_at,
        case when reason_code is null then coalesce(ledger_channel, channel) end as channel,
        coalesce(ledger_customer_type, customer_type) as customer_type,
        case when reason_code is null then coalesce(ledger_template_id, template_id) end as template_id,
        coalesce(ledger_language, language) as language,  -- noqa: RF04
        style_family,
        style_tag,
        product_category,
        member_tier,
        has_member_offer,
        prior_purchase_count,
        amount,
        ordered_at,
        is_flash_sale,
        deadline_at,
        timing_rule,
        ship_cutoff_local,
        is_preferred_hour,
        customer_timezone,
        shop_timezone,
        case when reason_code is null and ledger_status = 'scheduled' then ledger_rendered_text end as ledger_rendered_text,
        case
            when reason_code is null and ledger_status = 'scheduled' then 'keep'
            when reason_code is null then 'schedule'
            when ledger_status = 'scheduled' and not is_already_reminded then 'cancel'
            else 'none'
        end as ledger_action
    from decided
)

select * from final
