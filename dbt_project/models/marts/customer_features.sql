-- One row per customer per as-of date: the table both the churn model and analysts read.
-- Every feature uses only data at or before the end of the as-of day (leakage guard).
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

purchases as (
    select * from {{ ref('int_purchases_sequenced') }}
),

purchase_history as (
    select
        snapshots.as_of_date,
        snapshots.as_of_end_at,
        purchases.customer_id,
        purchases.ordered_at,
        purchases.amount,
        purchases.gap_days,
        date_diff('day', purchases.ordered_at, snapshots.as_of_end_at) as days_before_as_of
    from snapshots
    inner join purchases
        on snapshots.as_of_end_at > purchases.ordered_at
),

-- R1 and R3: recency, frequency, monetary value and the customer's own cadence.
rfm as (
    select
        as_of_date,
        customer_id,
        min(ordered_at) as first_purchase_at,
        max(ordered_at) as last_purchase_at,
        count(*) as purchase_count,
        sum(amount) as monetary_lifetime,
        count(*) filter (where days_before_as_of <= 365) as purchase_count_365d,
        coalesce(sum(amount) filter (where days_before_as_of <= 365), 0) as monetary_365d,
        count(*) filter (where days_before_as_of <= 90) as purchase_count_90d,
        count(*) filter (where days_before_as_of > 90 and days_before_as_of <= 180)
            as purchase_count_prev_90d,
        coalesce(sum(amount) filter (where days_before_as_of <= 90), 0) as monetary_90d,
        coalesce(sum(amount) filter (where days_before_as_of > 90 and days_before_as_of <= 180), 0)
            as monetary_prev_90d,
        median(gap_days) as median_gap_days,
        stddev_samp(gap_days) as gap_days_stddev,
        max(as_of_end_at) as as_of_end_at
    from purchase_history
    group by as_of_date, customer_id
),

features as (
    select
        customer_id,
        as_of_date,
        date_diff('day', last_purchase_at, as_of_end_at) as recency_days,
        date_diff('day', first_purchase_at, as_of_end_at) as tenure_days,
        purchase_count,
        purchase_count_365d,
        purchase_count_90d,
        purchase_count_prev_90d,
        cast(monetary_lifetime as double) as monetary_lifetime,
        cast(monetary_365d as double) as monetary_365d,
        cast(monetary_90d as double) as monetary_90d,
        cast(monetary_prev_90d as double) as monetary_prev_90d,
        cast(monetary_lifetime as double) / purchase_count as avg_order_value,
        cast(median_gap_days as double) as median_gap_days,
        gap_days_stddev,
        -- R1: recency against the customer's own purchase cadence (null for one-time buyers).
        date_diff('day', last_purchase_at, as_of_end_at) / nullif(cast(median_gap_days as double), 0)
            as recency_vs_cadence,
        -- R1: falling frequency and value, last 90 days against the 90 before.
        purchase_count_90d - purchase_count_prev_90d as purchase_count_trend_90d,
        cast(monetary_90d - monetary_prev_90d as double) as monetary_trend_90d
    from rfm
),

labels as (
    select
        snapshots.as_of_date,
        purchases.customer_id,
        count(*) as purchases_in_horizon
    from snapshots
    inner join purchases
        on
            snapshots.as_of_end_at <= purchases.ordered_at
            and snapshots.horizon_end_at > purchases.ordered_at
    where snapshots.is_label_observed
    group by snapshots.as_of_date, purchases.customer_id
),

final as (
    select
        features.*,
        snapshots.is_scoring_snapshot,
        snapshots.is_label_observed,
        -- Label: no paid, non-refunded order within (as_of, as_of + horizon].
        case
            when snapshots.is_label_observed then coalesce(labels.purchases_in_horizon, 0) = 0
        end as is_churned
    from features
    inner join snapshots
        on features.as_of_date = snapshots.as_of_date
    left join labels
        on
            features.as_of_date = labels.as_of_date
            and features.customer_id = labels.customer_id
)

select * from final
