-- The win-back list: one row per customer per as-of date for every candidate who passed
-- the exclusions (R6, R13): value tier, likely reasons, the plan the budget allocation
-- chose (offer sequence, channel, contacts: models/plans.py, models/allocation.py), and
-- whether the budget took them and the control group holds them out (R10).
-- History is kept: a rerun replaces its own as-of date only (delete+insert on the date).
{%- set gap = var('winback_step_gap_days') %}
{#- Issue 17: no contact is planned before the run's send-from time (a production run's
    start; a replay's as-of day, so nothing moves): the whole sequence moves by whole
    days until its first contact is not in the past, keeping the local hour. #}
{%- set send_from = "cast('" ~ winback.run_value('send_from') ~ "' as timestamp)" %}
{%- set first_local = "cast(as_of_date + 1 as timestamp) + "
    ~ winback.interval_hours('cast(contact_hour_local as integer)') %}

with

decided as (
    select * from {{ ref('int_winback_candidates_decided') }}
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

time_zones as (
    select timezone_name as time_zone from {{ winback.known_timezone_names() }} as timezone_names
),

listed as (
    select
        decided.*,
        decided.is_selected and not decided.is_control_group as is_contacted,
        time_zones.time_zone as valid_time_zone,
        catalogue.offer_type,
        catalogue.description as offer_description,
        catalogue.discount_depth,
        catalogue.validity_days as offer_validity_days
    from decided
    left join catalogue
        on decided.recommended_offer = catalogue.offer_code
    left join time_zones
        on decided.timezone = time_zones.time_zone
    where decided.exclusion_reason is null
),

-- The first contact as the as-of date plans it (the day after, at the local hour) and
-- the whole days the sequence waits so that it does not start before send_from.
delayed as (
    select
        *,
        case
            when first_contact_at >= {{ send_from }} then 0
            else cast(ceil({{ dbt.datediff('first_contact_at', send_from, 'second') }} / 86400.0) as integer)
        end as send_delay_days
    from (
        select
            *,
            {{ winback.local_to_utc(first_local, "coalesce(valid_time_zone, 'UTC')") }} as first_contact_at
        from listed
    ) as planned
),

-- R12, R13: contacts step_gap_days apart at the customer's preferred local hour (R11).
scheduled as (
    select
        *,
    {%- for step in [1, 2, 3] %}
        case
            when is_contacted and step_{{ step }}_offer is not null
                then {{ winback.local_to_utc(
                    'cast(as_of_date + send_delay_days + ' ~ (1 + (step - 1) * gap) ~ ' as timestamp) + '
                    ~ winback.interval_hours('cast(contact_hour_local as integer)'),
                    "coalesce(valid_time_zone, 'UTC')"
                ) }}
        end as contact_{{ step }}_at{{ ',' if not loop.last }}  -- noqa: LT02
    
    {%- endfor %}
    from delayed
),

final as (
    select
        as_of_date,
        customer_id,
        campaign_id,
        case
            when is_contacted then 'contact'
            when consent_status = 'unknown' then 'needs_consent'
            when is_selected and is_control_group then 'hold_out_control'
            else 'not_selected_budget'
        end as action,  -- noqa: RF04
        is_selected,
        is_control_group,
        is_contacted,
        consent_status,
        priority_rank,
        lapse_status,
        segment,
        member_tier,
        value_tier,
        value_if_retained_12m,
        margin_if_retained_12m,
        advocacy_value_12m,
        value_source,
        churn_probability,
        churn_probability_source,
        likely_reason_1,
        reason_1_confidence,
        likely_reason_2,
        reason_2_confidence,
        reason_explanation,
        recommended_offer,
        offer_type,
        offer_description,
        discount_depth,
        offer_validity_days,
        favourite_category,
        case when is_contacted then planned_channel end as channel,
        planned_contacts,
        step_1_offer as contact_1_offer,
        contact_1_at,
        step_2_offer as contact_2_offer,
        contact_2_at,
        step_3_offer as contact_3_offer,
        contact_3_at,
        contact_hour_local,
        coalesce(valid_time_zone, 'UTC') as contact_time_zone,
        'Stop at once when the customer orders, opts out or opens a dispute; no contact after contact '
        || planned_contacts || ' (another would cost more than it is expected to bring).' as stop_rule,
        return_probability,
        expected_gain,
        expected_cost,
        expected_profit,
        committed_cost,
        cumulative_committed_cost,
        cumulative_expected_cost,
        response_learned_share
    from scheduled
)

select * from final
