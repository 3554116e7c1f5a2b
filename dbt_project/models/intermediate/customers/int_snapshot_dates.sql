-- The point-in-time grid: the run's as-of date (the scoring snapshot) and earlier as-of
-- dates on a fixed calendar, `snapshot_anchor_date` + k × `snapshot_cadence_days`, the
-- newest `snapshot_count` − 1 of them before the run's date (macros/snapshots.sql). The
-- calendar is fixed so that a snapshot built one night is the same snapshot the next
-- night, and an incremental build keeps it. A snapshot sees data up to the end of its
-- as-of day (UTC). Its label is observed only when its whole horizon lies before the run's
-- as-of date.
{%- set days_before_run = winback.snapshot_days_before_run() %}
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

params as (
    select
        cast('{{ run_value('as_of_date') }}' as date) as run_as_of_date,
        {{ var("horizon_days") }} as horizon_days,
        {{ var("snapshot_cadence_days") }} as cadence_days,
        {{ var("min_history_days") }} as min_history_days
),

history as (
    select cast(min(ordered_at) as date) as first_order_date from orders
),

grid as (
    select
        steps.snapshot_index,
        -- days back from the run's as-of date: 0, then the newest calendar date before
        -- it, and a cadence further for each next one
        case
            when steps.snapshot_index = 0 then 0
            else {{ days_before_run[1] if days_before_run | length > 1 else 0 }} + (steps.snapshot_index - 1) * params.cadence_days
        end as days_before_run
    from params
    cross join {{ winback.integer_range(0, var('snapshot_count') ~ ' - 1', 'snapshot_index') }} as steps
),

dated as (
    select
        grid.snapshot_index,
        grid.days_before_run,
        cast({{ dbt.dateadd('day', '-1 * grid.days_before_run', 'params.run_as_of_date') }} as date) as as_of_date
    from grid
    cross join params
),

final as (
    select
        dated.as_of_date,
        dated.snapshot_index,
        dated.days_before_run,
        cast({{ dbt.dateadd('day', '1', 'dated.as_of_date') }} as timestamp) as as_of_end_at,
        cast({{ dbt.dateadd('day', '1 + params.horizon_days', 'dated.as_of_date') }} as timestamp)
            as horizon_end_at,
        cast({{ dbt.dateadd('day', 'params.horizon_days', 'dated.as_of_date') }} as date)
        <= params.run_as_of_date as is_label_observed,
        dated.snapshot_index = 0 as is_scoring_snapshot
    from dated
    cross join params
    cross join history
    -- the scoring snapshot is always kept; older ones need some history before them
    where
        dated.snapshot_index = 0
        or dated.as_of_date
        >= cast({{ dbt.dateadd('day', 'params.min_history_days', 'history.first_order_date') }} as date)
)

select * from final
