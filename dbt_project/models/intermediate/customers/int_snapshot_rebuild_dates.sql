-- Which snapshots of tonight's grid this build computes (issue 19), and in which models.
-- The snapshot-grained models are incremental by as-of date (macros/snapshots.sql); on a
-- first or full build they compute every snapshot (and this table says so: is_new).
--   rebuild_aggregates: the snapshot is new (not in the last build), or an input it sees
--     changed: a history input (orders, events, tickets, invoices, contacts) has a
--     changed digest on a day on or before its as-of date;
--   rebuild_labels: new, its label flag changed (its horizon completed: the label is
--     filled in), or it is labelled and an order changed within its horizon;
--   rebuild_features (customer_features): any of those, its scoring flag changed, or a
--     profile it holds changed (a customer whose first order is on or before it).
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

built as (
    select * from {{ ref('stg_state__snapshot_builds') }}
),

digests as (
    select * from {{ ref('int_snapshot_inputs_digested') }}
),

previous_digests as (
    select * from {{ ref('stg_state__snapshot_input_digests') }}
),

changed_days as (
    select
        coalesce(digests.input_scope, previous_digests.input_scope) as input_scope,
        coalesce(digests.affects_labels, previous_digests.affects_labels) as affects_labels,
        coalesce(digests.input_day, previous_digests.input_day) as input_day
    from digests
    full outer join previous_digests
        on
            digests.input_name = previous_digests.input_name
            and digests.input_day = previous_digests.input_day
    where
        digests.row_count is null
        or previous_digests.row_count is null
        or digests.row_count != previous_digests.row_count
        or digests.row_digest != previous_digests.row_digest
),

first_changes as (
    select
        min(case when input_scope = 'history' then input_day end) as first_history_day,
        min(case when input_scope = 'profile' then input_day end) as first_profile_day
    from changed_days
),

label_changes as (
    select
        snapshots.as_of_date,
        count(*) as changed_label_days
    from snapshots
    inner join changed_days
        on
            snapshots.as_of_date < changed_days.input_day
            and cast({{ dbt.dateadd('day', var('horizon_days'), 'snapshots.as_of_date') }} as date)
            >= changed_days.input_day
    where snapshots.is_label_observed and changed_days.affects_labels
    group by snapshots.as_of_date
),

flagged as (
    select
        snapshots.as_of_date,
        -- a full refresh (winback nightly --full-refresh, or decided by winback.incremental)
        -- computes every snapshot
        {{ 'true' if flags.FULL_REFRESH else 'built.as_of_date is null' }} as is_new,
        coalesce(snapshots.as_of_date >= first_changes.first_history_day, false) as is_history_changed,
        coalesce(snapshots.as_of_date >= first_changes.first_profile_day, false) as is_profile_changed,
        coalesce(built.is_label_observed != snapshots.is_label_observed, false)
        or label_changes.as_of_date is not null as is_label_changed,
        coalesce(built.is_scoring_snapshot != snapshots.is_scoring_snapshot, false) as is_role_changed
    from snapshots
    cross join first_changes
    left join built
        on snapshots.as_of_date = built.as_of_date
    left join label_changes
        on snapshots.as_of_date = label_changes.as_of_date
),

final as (
    select
        as_of_date,
        is_new,
        is_history_changed,
        is_label_changed,
        is_profile_changed,
        is_role_changed,
        is_new or is_history_changed as rebuild_aggregates,
        is_new or is_label_changed as rebuild_labels,
        is_new or is_history_changed or is_label_changed or is_profile_changed or is_role_changed
            as rebuild_features
    from flagged
)

select * from final
