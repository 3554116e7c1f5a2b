-- Contact fatigue per customer per snapshot (R13): win-back and reminder contacts
-- actually made (treatment group) before the end of the as-of day.
-- Incremental by as-of date: builds only the snapshots int_snapshot_rebuild_dates flags.
-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}
with

snapshots as (
    {{ winback.snapshots_to_build('rebuild_aggregates') }}
),

contacts as (
    select * from {{ ref('int_campaign_contacts') }}
),

history as (
    select
        snapshots.as_of_date,
        contacts.customer_id,
        contacts.converted_order_id,
        {{ dbt.datediff('cast(contacts.contacted_at as date)', 'snapshots.as_of_date', 'day') }} as days_before_as_of
    from snapshots
    inner join contacts
        on snapshots.as_of_end_at > contacts.contacted_at
    where coalesce(contacts.contact_group, 'treatment') = 'treatment'
),

final as (
    select
        customer_id,
        as_of_date,
        count(*) filter (where days_before_as_of < 30) as winback_contacts_30d,
        count(*) filter (where days_before_as_of < 90) as winback_contacts_90d,
        min(days_before_as_of) as days_since_winback_contact
    from history
    group by customer_id, as_of_date
)

select * from final
