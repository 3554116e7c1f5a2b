-- Every candidate with their value tier (R5), their two likeliest reasons (R7) and the
-- rules that can keep them out of the list (R6, R13). The exclusion that wins is decided
-- in int_winback_candidates_decided, after the offers are valued (unprofitable needs them).
with

candidates as (
    select * from {{ ref('int_winback_candidates_valued') }}
),

boundaries as (
    select * from {{ ref('winback_value_tier_boundaries') }}
),

reasons as (
    select * from {{ ref('int_winback_reasons_scored') }}
),

-- R13 with Winback's own exports (issue 17): a contact an earlier list handed to senders
-- for after this as-of day is already on its way; the customer is not planned again.
planned_ahead as (
    select distinct customer_id
    from {{ ref('int_campaign_contacts') }}
    where
        contact_source = 'winback'
        and contact_group = 'treatment'
        and contacted_at >= cast(cast('{{ winback.run_value("as_of_date") }}' as date) + 1 as timestamp)
),

bounds as (
    select
        max(min_value_12m) filter (where value_tier = 1) as tier_1_min,
        max(min_value_12m) filter (where value_tier = 2) as tier_2_min,
        max(min_value_12m) filter (where value_tier = 3) as tier_3_min,
        max(min_value_12m) filter (where value_tier = 4) as tier_4_min
    from boundaries
),

top_reasons as (
    select
        customer_id,
        max(reason) filter (where reason_rank = 1) as likely_reason_1,
        max(reason_confidence) filter (where reason_rank = 1) as reason_1_confidence,
        max(reason_evidence) filter (where reason_rank = 1) as reason_1_evidence,
        max(reason_label) filter (where reason_rank = 1) as reason_1_label,
        max(reason) filter (where reason_rank = 2) as likely_reason_2,
        max(reason_confidence) filter (where reason_rank = 2) as reason_2_confidence,
        max(reason_label) filter (where reason_rank = 2) as reason_2_label
    from reasons
    where is_scoring_snapshot
    group by customer_id
),

tiered as (
    select
        candidates.*,
        case
            when candidates.value_if_retained_12m >= bounds.tier_1_min then 1
            when candidates.value_if_retained_12m >= bounds.tier_2_min then 2
            when candidates.value_if_retained_12m >= bounds.tier_3_min then 3
            when candidates.value_if_retained_12m >= bounds.tier_4_min then 4
            else 5
        end as value_tier,
        {{ winback.median('candidates.avg_order_value') }} over () as median_candidate_order_value
    from candidates
    cross join bounds
),

screened as (
    select
        tiered.*,
        top_reasons.likely_reason_1,
        top_reasons.reason_1_confidence,
        top_reasons.reason_1_label,
        top_reasons.likely_reason_2,
        top_reasons.reason_2_confidence,
        top_reasons.reason_2_label,
        -- Readable: "Forgot about the shop (48%); then Price / cost-consciousness (21%): ..."
        top_reasons.reason_1_label || ' (' || cast(round(100 * top_reasons.reason_1_confidence) as integer) || '%)'
        || coalesce(': ' || top_reasons.reason_1_evidence, '')
        || '; then ' || top_reasons.reason_2_label
        || ' (' || cast(round(100 * top_reasons.reason_2_confidence) as integer) || '%)'
        || coalesce('; model: ' || concat_ws(', ', tiered.model_reason_1, tiered.model_reason_2, tiered.model_reason_3), '')
            as reason_explanation,
        tiered.open_tickets > 0 as is_open_dispute,
        -- R13: granted (some channel consented), none (the data says no channel) or
        -- unknown (no consent data: ranked like everyone, never contacted).
        case
            when
                tiered.has_consent_email or tiered.has_consent_sms or tiered.has_consent_phone
                or tiered.has_consent_push
                then 'granted'
            when coalesce(tiered.has_consent_data, false) then 'none'
            else 'unknown'
        end as consent_status,
        coalesce(
            tiered.has_consent_data
            and not (
                tiered.has_consent_email or tiered.has_consent_sms or tiered.has_consent_phone
                or tiered.has_consent_push
            ),
            false
        ) as has_no_consented_channel,
        coalesce(tiered.days_since_winback_contact < {{ var('winback_frequency_cap_days') }}, false)
        or planned_ahead.customer_id is not null as is_contacted_too_recently,
        coalesce(
            tiered.invoices_due >= {{ var('winback_late_payer_min_invoices') }}
            and tiered.late_invoice_share >= {{ var('winback_late_payer_share') }},
            false
        ) as is_chronic_late_payer,
        coalesce(
            tiered.discounted_purchase_share >= {{ var('winback_price_hunter_discount_share') }}
            and tiered.disputes_price >= {{ var('winback_price_hunter_min_price_disputes') }},
            false
        ) as is_price_hunter,
        coalesce(
            tiered.tickets_lifetime >= {{ var('winback_attention_min_tickets') }}
            and tiered.tickets_lifetime >= {{ var('winback_attention_tickets_per_purchase') }} * tiered.purchase_count
            and tiered.avg_order_value < tiered.median_candidate_order_value,
            false
        ) as is_high_attention_low_spend
    from tiered
    left join top_reasons
        on tiered.customer_id = top_reasons.customer_id
    left join planned_ahead
        on tiered.customer_id = planned_ahead.customer_id
),

-- The rules that keep a candidate out of the list whatever a plan would earn (R6, R7,
-- R13): the first that applies, and all that apply. (A candidate no plan pays for is
-- excluded as unprofitable after the allocation, int_winback_candidates_decided.)
ruled as (
    select
        *,
        case
            when is_open_dispute then 'open_dispute'
            when is_do_not_contact then 'do_not_contact'
            when has_no_consented_channel then 'no_consented_channel'
            when is_contacted_too_recently then 'contacted_too_recently'
            when is_chronic_late_payer then 'chronic_late_payer'
            when is_price_hunter then 'price_hunter'
            when is_high_attention_low_spend then 'high_attention_low_spend'
        end as rule_exclusion_reason,
        concat_ws(
            ', ',
            case when is_open_dispute then 'open_dispute' end,
            case when is_do_not_contact then 'do_not_contact' end,
            case when has_no_consented_channel then 'no_consented_channel' end,
            case when is_contacted_too_recently then 'contacted_too_recently' end,
            case when is_chronic_late_payer then 'chronic_late_payer' end,
            case when is_price_hunter then 'price_hunter' end,
            case when is_high_attention_low_spend then 'high_attention_low_spend' end
        ) as rule_exclusion_reasons,
        {% if var('winback_campaign_id') -%}
            '{{ var('winback_campaign_id') }}'
        {%- else -%}
            'winback-' || substr(cast(as_of_date as {{ dbt.type_string() }}), 1, 7)
        {%- endif %} as campaign_id
    from screened
),

-- R10: a stable pseudo-random number per customer and campaign (md5, so it is the same in
-- any engine and in Python: tests/decisions/control.py control_draw); the control group is
-- held out before the budget is spent and never contacted.
drawn as (
    select
        *,
        {{ winback.hex_to_number("substr(md5(customer_id || ':' || campaign_id), 1, 8)") }} / 4294967296.0
            as control_draw
    from ruled
),

final as (
    select
        *,
        control_draw < {{ var('winback_control_share') }} as is_control_group
    from drawn
)

select * from final
