-- Every order still unpaid at the reminder run's time (var reminder_at, UTC) with the
-- facts the reminder rules need: payments the same shop day (R15), newer orders (R16),
-- source (R17), deadline (R19), customer type at order time (R20), the basket's style
-- family (R21), time zone, consents and the channel to use.
-- Point in time: orders placed after reminder_at are invisible, payments after it have
-- not happened yet (the loader keeps the whole as-of day, so this model must cut).
{%- set reminder_at = "cast('" ~ run_value('reminder_at') ~ "' as timestamp)" %}
{%- set shop_tz = var('shop_timezone') %}
{%- set zh_timezones = var('reminder_zh_timezones') %}
{%- set none_tiers = ['none', 'no', 'non_member', 'nonmember', '0', ''] %}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

customers as (
    select * from {{ ref('int_customers_consented') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

known_timezones as (
    select timezone_name from {{ winback.known_timezone_names() }} as timezone_names
),

orders_at_run as (
    select
        order_id,
        customer_id,
        ordered_at,
        amount,
        order_status,
        order_source,
        is_flash_sale,
        pay_deadline_at,
        is_purchase,
        -- A paid status without paid_ts counts as paid when placed.
        case
            when paid_at is not null then paid_at
            when order_status in ('paid', 'shipped', 'delivered', 'refunded') then ordered_at
        end as effective_paid_at,
        cast({{ winback.utc_to_local('ordered_at', "'" ~ shop_tz ~ "'") }} as date) as ordered_shop_date
    from orders
    where ordered_at <= {{ reminder_at }}
),

paid_by_run as (
    select
        customer_id,
        order_id,
        ordered_at,
        ordered_shop_date,
        is_purchase,
        effective_paid_at,
        cast({{ winback.utc_to_local('effective_paid_at', "'" ~ shop_tz ~ "'") }} as date) as paid_shop_date
    from orders_at_run
    where effective_paid_at <= {{ reminder_at }}
),

pending as (
    select *
    from orders_at_run
    where
        (order_status = 'pending' or effective_paid_at is not null)
        and coalesce(effective_paid_at > {{ reminder_at }}, true)
),

-- R15: shop days on which the customer paid an order, or placed an order paid by now.
paid_shop_days as (
    select distinct
        customer_id,
        paid_shop_date as shop_date
    from paid_by_run
    union
    select distinct
        customer_id,
        ordered_shop_date as shop_date
    from paid_by_run
),

-- R16: the newest pending order per customer is the customer's final decision.
pending_ranked as (
    select
        order_id,
        row_number() over (
            partition by customer_id order by ordered_at desc, order_id desc
        ) as pending_rank_newest_first
    from pending
),

latest_paid_order as (
    select
        customer_id,
        max(ordered_at) as latest_paid_ordered_at
    from paid_by_run
    group by customer_id
),

-- R20: purchases paid before the pending order was placed.
prior_purchases as (
    select
        pending.order_id,
        count(*) as prior_purchase_count
    from pending
    inner join paid_by_run
        on
            pending.customer_id = paid_by_run.customer_id
            and paid_by_run.is_purchase
            and pending.ordered_at > paid_by_run.effective_paid_at
    group by pending.order_id
),

-- R21: the style of the basket's biggest line decides the template family.
basket_style as (
    select
        order_id,
        style_tag,
        category
    from (
        select
            order_items.order_id,
            lower(trim(products.style_tag)) as style_tag,
            products.category,
            row_number() over (
                partition by order_items.order_id
                order by order_items.quantity * coalesce(order_items.unit_price, 0) desc, order_items.product_id
            ) as line_rank
        from order_items
        inner join products
            on order_items.product_id = products.product_id
        where order_items.order_id in (select pending.order_id from pending)
    ) as ranked_lines
    where line_rank = 1
),

profiled as (
    select
        pending.order_id,
        pending.customer_id,
        pending.ordered_at,
        pending.amount,
        pending.order_source,
        pending.is_flash_sale,
        pending.pay_deadline_at,
        pending.ordered_shop_date,
        {{ reminder_at }} as reminder_at,
        '{{ shop_tz }}' as shop_timezone,
        coalesce(known_timezones.timezone_name, '{{ shop_tz }}') as customer_timezone,
        customers.preferred_contact_hour,
        customers.preferred_channel,
        nullif(lower(trim(customers.member_tier)), '') as member_tier,
        basket_style.style_tag,
        basket_style.category as product_category,
        coalesce(customers.is_do_not_contact, false) as is_do_not_contact,
        coalesce(customers.has_consent_email, false) as can_email,
        coalesce(customers.has_consent_sms, false) as can_sms,
        coalesce(customers.has_consent_phone, false) as can_phone,
        coalesce(customers.has_consent_push, false) as can_push,
        -- The contract has no chat consent: chat reaches the customer through the shop
        -- app, so the push (app messaging) consent covers it.
        coalesce(customers.has_consent_push, false) as can_chat,
        pending.order_source = 'distribution' as is_distribution_order,
        paid_shop_days.shop_date is not null as has_paid_same_day,
        pending_ranked.pending_rank_newest_first > 1 as has_newer_unpaid_order,
        coalesce(latest_paid_order.latest_paid_ordered_at > pending.ordered_at, false) as has_newer_paid_order,
        coalesce(prior_purchases.prior_purchase_count, 0) as prior_purchase_count
    from pending
    left join customers
        on pending.customer_id = customers.customer_id
    left join known_timezones
        on customers.timezone = known_timezones.timezone_name
    left join paid_shop_days
        on
            pending.customer_id = paid_shop_days.customer_id
            and pending.ordered_shop_date = paid_shop_days.shop_date
    inner join pending_ranked
        on pending.order_id = pending_ranked.order_id
    left join latest_paid_order
        on pending.customer_id = latest_paid_order.customer_id
    left join prior_purchases
        on pending.order_id = prior_purchases.order_id
    left join basket_style
        on pending.order_id = basket_style.order_id
),

typed as (
    select
        *,
        -- R20: 0 purchases = new, 1 = second-time buyer, 2 or more = loyal.
        case
            when prior_purchase_count = 0 then 'new'
            when prior_purchase_count = 1 then 'second_time'
            else 'loyal'
        end as customer_type,
        -- R20: a second-time buyer is reminded only with something to offer.
        coalesce(member_tier not in ({{ "'" ~ none_tiers | join("', '") ~ "'" }}), false)
        or {{ 'true' if var('reminder_promotion_available') else 'false' }} as has_member_offer,
        case
            when style_tag in ('cute', 'playful', 'kawaii', 'fun', '萌', '可爱') then 'playful'
            when style_tag in ('premium', 'luxury', 'elegant', 'classic', '高端', '轻奢') then 'premium'
            when style_tag in ('practical', 'basic', 'essential', 'everyday', '实用') then 'practical'
            else 'general'
        end as style_family,
        case
            when customer_timezone in ({{ "'" ~ zh_timezones | join("', '") ~ "'" }}) then 'zh' else 'en'
        end as language,  -- noqa: RF04
        case preferred_channel
            when 'email' then can_email
            when 'sms' then can_sms
            when 'phone' then can_phone
            when 'push' then can_push
            when 'chat' then can_chat
            else false
        end as is_preferred_channel_allowed
    from profiled
),

final as (
    select
        *,
        case
            -- R20: new customers get help first, through chat or phone where allowed.
            when customer_type = 'new' and preferred_channel in ('chat', 'phone') and is_preferred_channel_allowed
                then preferred_channel
            when customer_type = 'new' and can_chat then 'chat'
            when customer_type = 'new' and can_phone then 'phone'
            when is_preferred_channel_allowed then preferred_channel
            when can_push then 'push'
            when can_chat then 'chat'
            when can_sms then 'sms'
            when can_email then 'email'
            when can_phone then 'phone'
        end as channel,
        customer_type || '__' || style_family as template_id
    from typed
)

select * from final
