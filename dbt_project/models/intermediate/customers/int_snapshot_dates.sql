-- The point-in-time grid: the run's as-of date and earlier as-of dates every
-- `snapshot_cadence_days`. A snapshot sees data up to the end of its as-of day (UTC).
-- Its label is observed only when its whole horizon lies before the run's as-of date.
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
        cast(
            {{ dbt.dateadd('day', '-1 * steps.snapshot_index * params.cadence_days', 'params.run_as_of_date') }}
            as date
        ) as as_of_date
    from params
    cross join {{ winback.integer_range(0, var('snapshot_count') ~ ' - 1', 'snapshot_index') }} as steps
),

final as (
    select
        grid.as_of_date,
        grid.snapshot_index,
        cast({{ dbt.dateadd('day', '1', 'grid.as_of_date') }} as timestamp) as as_of_end_at,
        cast({{ dbt.dateadd('day', '1 + params.horizon_days', 'grid.as_of_date') }} as timestamp)
            as horizon_end_at,
        cast({{ dbt.dateadd('day', 'params.horizon_days', 'grid.as_of_date') }} as date)
        <= params.run_as_of_date as is_label_observed,
        grid.snapshot_index = 0 as is_scoring_snapshot
    from grid
    cross join params
    cross join history
    -- the scoring snapshot is always kept; older ones need some history before them
    where
        grid.snapshot_index = 0
        or grid.as_of_date
        >= cast({{ dbt.dateadd('day', 'params.min_history_days', 'history.first_order_date') }} as date)
)

select * from final
