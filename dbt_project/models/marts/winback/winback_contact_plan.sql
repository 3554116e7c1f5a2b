-- The contacts a sender makes (issue 17): one row per planned contact of every customer
-- the list contacts (R11-R13; the control group is never contacted, R10), with the
-- contact key the sender's log returns (contact_log), the time in UTC and in the
-- customer's zone, the step's offer from the catalogue (R8, R9) and the language of the
-- message (zh for the time zones of setting reminders.zh_timezones, as reminders, R21).
-- History is kept by as-of date, like the list it comes from.
{%- set zh_timezones = var('reminder_zh_timezones') %}

with

listed as (
    select * from {{ ref('winback_list') }}
    where
        as_of_date = cast('{{ winback.run_value("as_of_date") }}' as date)
        and is_contacted
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

step_numbers as (
    select numbers.step from (values (1), (2), (3)) as numbers (step)
),

steps as (
    select
        listed.*,
        step_numbers.step,
        case step_numbers.step
            when 1 then listed.contact_1_offer
            when 2 then listed.contact_2_offer
            else listed.contact_3_offer
        end as offer_code,
        case step_numbers.step
            when 1 then listed.contact_1_at
            when 2 then listed.contact_2_at
            else listed.contact_3_at
        end as contact_at
    from listed
    cross join step_numbers
),

final as (
    select
        'wb-' || replace(cast(steps.as_of_date as {{ dbt.type_string() }}), '-', '') || '-'
        || steps.customer_id || '-' || cast(steps.step as {{ dbt.type_string() }}) as contact_key,
        steps.as_of_date,
        steps.campaign_id,
        steps.customer_id,
        steps.step,
        steps.planned_contacts,
        steps.channel,
        steps.contact_at,
        {{ winback.utc_to_local('steps.contact_at', 'steps.contact_time_zone') }} as contact_at_local,
        steps.contact_time_zone,
        case
            when steps.contact_time_zone in ({{ "'" ~ zh_timezones | join("', '") ~ "'" }}) then 'zh'
            else 'en'
        end as language,  -- noqa: RF04
        steps.offer_code,
        catalogue.offer_type,
        catalogue.description as offer_description,
        catalogue.discount_depth,
        catalogue.validity_days as offer_validity_days,
        cast({{ winback.utc_to_local('steps.contact_at', 'steps.contact_time_zone') }} as date)
        + catalogue.validity_days as offer_valid_until,
        steps.favourite_category,
        steps.member_tier,
        steps.segment,
        steps.value_tier,
        steps.likely_reason_1,
        steps.stop_rule
    from steps
    left join catalogue
        on steps.offer_code = catalogue.offer_code
    where steps.contact_at is not null
)

select * from final
