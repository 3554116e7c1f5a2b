-- When to remind each pending order (R18, R19), or null when no moment fits.
-- Candidate windows: the window before each shipping cut-off on the next shop days
-- (R18), or hours after the order for shops that ship continuously (R18, with the
-- customer's next morning as a fallback); a flash-sale order gets one early window
-- before its deadline instead (R19), and any deadline clips the normal windows so the
-- reminder comes `lead` minutes before it. Each window is cut to the customer's daytime
-- (never at night in their time zone); inside the first window left, the customer's
-- preferred hour wins when it overlaps, else the window's first moment.
{%- set shop_tz = var('shop_timezone') %}
{%- set cutoff_hours = var('reminder_cutoff_hours') %}
{%- set window_minutes = var('reminder_window_minutes') %}
{%- set continuous_sql = 'true' if var('reminder_continuous_shipping') else 'false' %}
{%- set delay_min_hours = var('reminder_continuous_delay_min_hours') %}
{%- set delay_max_hours = var('reminder_continuous_delay_max_hours') %}
{%- set min_age_minutes = var('reminder_min_order_age_minutes') %}
{%- set night_start = var('reminder_night_start_hour') %}
{%- set night_end = var('reminder_night_end_hour') %}
{%- set lead_minutes = var('reminder_deadline_lead_minutes') %}
{%- set flash_after_minutes = var('reminder_flash_remind_after_minutes') %}
{%- set flash_close_minutes = var('reminder_flash_close_minutes') %}
{%- set horizon_days = var('reminder_horizon_days') %}
{%- set shop_tz_sql = "'" ~ shop_tz ~ "'" %}
{#- Midnight (shop time) of the shop day of earliest_at, plus the slot's day offset. #}
{%- set shop_day_start = "cast(cast(" ~ winback.utc_to_local('timing_inputs.earliest_at', shop_tz_sql)
    ~ " as date) + cutoff_slots.day_offset as timestamp)" %}
{#- Midnight (customer time) of the day the continuous window ends, plus the morning offset. #}
{%- set customer_day_start = "cast(cast(" ~ winback.utc_to_local(
    "cast(timing_inputs.ordered_at + interval '" ~ ((delay_max_hours * 60) | int) ~ " minutes' as timestamp)",
    'timing_inputs.customer_timezone') ~ " as date) + morning_slots.day_offset as timestamp)" %}

with

pending as (
    select * from {{ ref('int_pending_orders_profiled') }}
),

timing_inputs as (
    select
        order_id,
        ordered_at,
        reminder_at,
        customer_timezone,
        preferred_contact_hour,
        is_flash_sale,
        -- R19: a flash sale without an explicit deadline closes after the usual minutes.
        case
            when is_flash_sale then coalesce(pay_deadline_at, ordered_at + interval '{{ flash_close_minutes }} minutes')
            else pay_deadline_at
        end as deadline_at,
        -- Give the customer time to pay on their own before any normal reminder.
        greatest(reminder_at, ordered_at + interval '{{ min_age_minutes }} minutes') as earliest_at
    from pending
),

cutoff_slots as (
    {%- for day_offset in range(horizon_days) %}
        {%- for cutoff_hour in cutoff_hours %}
            select
                {{ day_offset }} as day_offset,
                {{ cutoff_hour }} as cutoff_hour
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

-- R18: the window before each shipping cut-off, shop time, from the shop day of earliest_at.
cutoff_windows as (
    select
        timing_inputs.order_id,
        'shipping_cutoff' as timing_rule,
        lpad(cast(cutoff_slots.cutoff_hour as {{ dbt.type_string() }}), 2, '0') || ':00' as ship_cutoff_local,
        {{ winback.local_to_utc(
            shop_day_start ~ ' + ' ~ winback.interval_minutes('cutoff_slots.cutoff_hour * 60 - ' ~ window_minutes),
            shop_tz_sql
        ) }} as window_start_at,
        {{ winback.local_to_utc(
            shop_day_start ~ ' + ' ~ winback.interval_minutes('cutoff_slots.cutoff_hour * 60'),
            shop_tz_sql
        ) }} as window_end_at
    from timing_inputs
    cross join cutoff_slots
    where not timing_inputs.is_flash_sale and not {{ continuous_sql }}
),

morning_slots as (
    select 0 as day_offset
    union all
    select 1 as day_offset
),

-- R18: shops that ship continuously remind some hours after the order; when that falls
-- in the customer's night, the customer's next morning takes its place.
continuous_windows as (
    select
        order_id,
        'continuous_shipping' as timing_rule,
        cast(null as {{ dbt.type_string() }}) as ship_cutoff_local,
        ordered_at + interval '{{ (delay_min_hours * 60) | int }} minutes' as window_start_at,
        ordered_at + interval '{{ (delay_max_hours * 60) | int }} minutes' as window_end_at
    from timing_inputs
    where not is_flash_sale and {{ continuous_sql }}
    union all
    select
        timing_inputs.order_id,
        'next_morning' as timing_rule,
        cast(null as {{ dbt.type_string() }}) as ship_cutoff_local,
        {{ winback.local_to_utc(
            customer_day_start ~ " + interval '" ~ night_end ~ " hours'",
            'timing_inputs.customer_timezone'
        ) }} as window_start_at,
        {{ winback.local_to_utc(
            customer_day_start ~ " + interval '" ~ night_end ~ " hours' + interval '" ~ window_minutes ~ " minutes'",
            'timing_inputs.customer_timezone'
        ) }} as window_end_at
    from timing_inputs
    cross join morning_slots
    where not timing_inputs.is_flash_sale and {{ continuous_sql }}
),

-- R19: a flash-sale order is reminded soon after it is placed, well before it closes,
-- ahead of the normal schedule; any other order with a deadline may fall back to a
-- window just before the deadline when the normal windows come too late.
deadline_windows as (
    select
        order_id,
        case when is_flash_sale then 'flash_deadline' else 'payment_deadline' end as timing_rule,
        cast(null as {{ dbt.type_string() }}) as ship_cutoff_local,
        case
            when is_flash_sale
                then greatest(
                    reminder_at,
                    least(
                        ordered_at + interval '{{ flash_after_minutes }} minutes',
                        deadline_at - interval '{{ lead_minutes }} minutes'
                    )
                )
            else greatest(reminder_at, deadline_at - interval '{{ lead_minutes }} minutes')
        end as window_start_at,
        deadline_at as window_end_at
    from timing_inputs
    where deadline_at is not null
),

all_windows as (
    select * from cutoff_windows
    union all
    select * from continuous_windows
    union all
    select * from deadline_windows
),

windows_clipped as (
    select
        all_windows.order_id,
        all_windows.timing_rule,
        all_windows.ship_cutoff_local,
        timing_inputs.customer_timezone,
        timing_inputs.preferred_contact_hour,
        case
            when all_windows.timing_rule in ('flash_deadline', 'payment_deadline') then all_windows.window_start_at
            else greatest(all_windows.window_start_at, timing_inputs.earliest_at)
        end as start_at,
        case
            when timing_inputs.deadline_at is not null and all_windows.timing_rule not in ('flash_deadline', 'payment_deadline')
                then least(all_windows.window_end_at, timing_inputs.deadline_at - interval '{{ lead_minutes }} minutes')
            else all_windows.window_end_at
        end as end_at
    from all_windows
    inner join timing_inputs
        on all_windows.order_id = timing_inputs.order_id
),

windows_local as (
    select
        *,
        cast({{ winback.utc_to_local('start_at', 'customer_timezone') }} as timestamp) as local_start,
        cast({{ winback.utc_to_local('end_at', 'customer_timezone') }} as timestamp) as local_end
    from windows_clipped
    where start_at < end_at
),

day_shifts as (
    select 0 as day_shift
    union all
    select 1 as day_shift
),

-- R18: keep only the customer's daytime [night_end, night_start) of each window.
daytime_parts as (
    select
        windows_local.*,
        greatest(
            windows_local.local_start,
            cast(cast(windows_local.local_start as date) + day_shifts.day_shift as timestamp)
            + interval '{{ night_end }} hours'
        ) as allowed_from_local,
        least(
            windows_local.local_end,
            cast(cast(windows_local.local_start as date) + day_shifts.day_shift as timestamp)
            + interval '{{ night_start }} hours'
        ) as allowed_until_local,
        cast(cast(windows_local.local_start as date) + day_shifts.day_shift as timestamp) as local_day_start
    from windows_local
    cross join day_shifts
),

preferred_parts as (
    select
        *,
        -- R18: the preferred hour counts only when it is itself a daytime hour.
        case
            when preferred_contact_hour >= {{ night_end }} and preferred_contact_hour < {{ night_start }}
                then greatest(allowed_from_local, local_day_start + {{ winback.interval_hours('preferred_contact_hour') }})
        end as preferred_from_local,
        case
            when preferred_contact_hour >= {{ night_end }} and preferred_contact_hour < {{ night_start }}
                then least(allowed_until_local, local_day_start + {{ winback.interval_hours('preferred_contact_hour + 1') }})
        end as preferred_until_local
    from daytime_parts
    where allowed_from_local < allowed_until_local
),

first_window as (
    select
        order_id,
        timing_rule,
        ship_cutoff_local,
        customer_timezone,
        coalesce(preferred_from_local < preferred_until_local, false) as is_preferred_hour,
        case
            when preferred_from_local < preferred_until_local then preferred_from_local
            else allowed_from_local
        end as remind_at_local
    from (
        select
            *,
            row_number() over (partition by order_id order by allowed_from_local, timing_rule) as window_rank
        from preferred_parts
    ) as ranked_parts
    where window_rank = 1
),

final as (
    select
        timing_inputs.order_id,
        timing_inputs.deadline_at,
        coalesce(timing_inputs.deadline_at <= timing_inputs.reminder_at, false) as has_deadline_passed,
        {{ winback.local_to_utc('first_window.remind_at_local', 'first_window.customer_timezone') }} as remind_at,
        first_window.remind_at_local,
        first_window.timing_rule,
        first_window.ship_cutoff_local,
        coalesce(first_window.is_preferred_hour, false) as is_preferred_hour
    from timing_inputs
    left join first_window
        on timing_inputs.order_id = first_window.order_id
)

select * from final
