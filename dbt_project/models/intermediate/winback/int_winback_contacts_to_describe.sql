-- Issue 19: the past campaign contacts whose response rows (int_winback_response_rows) this
-- build computes. A contact's row is the customer as of its reason snapshot, so it stays as
-- it is while the contact (campaign, step, offer, channel, group, conversion, snapshot) is
-- the same and its snapshot was not computed again since (the snapshot's build id in
-- meta.snapshot_builds, written after each feature build: winback.incremental; a project
-- or settings change computes every snapshot again). Computed tonight: new and changed
-- contacts, those whose snapshot was rebuilt, those without a recorded build, and those
-- reading the scoring snapshot (its reasons carry tonight's churn reason codes). All of
-- them on a first build, a full refresh or on Spark (where the rows model is a table).
{%- set rows = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_winback_response_rows') if execute else none %}
{%- set contact_columns = winback.response_contact_columns() %}
{%- set kept_columns = contact_columns + ['reason_as_of_date', 'reason_build_id'] %}
{%- set incremental = rows is not none and not flags.FULL_REFRESH and target.type != 'spark' %}

with

contacts as (
    select * from {{ ref('int_winback_past_contacts_dated') }}
),

builds as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(build_id as {{ dbt.type_string() }}) as build_id
    from {{ winback.source_or_empty('state', 'snapshot_builds', {
        'as_of_date': 'date',
        'build_id': dbt.type_string(),
    }) }} as source_rows
),

described as (
    select
        {%- for column in contact_columns %}
            contacts.{{ column }},
        {%- endfor %}
        contacts.reason_as_of_date,
        builds.build_id as reason_build_id
    from contacts
    left join builds
        on contacts.reason_as_of_date = builds.as_of_date
),

{%- if incremental %}

-- The contacts whose row stands: the same contact and snapshot build as when it was computed.
kept as (
    select {{ kept_columns | join(', ') }}
    from described
    where
        reason_build_id is not null
        and reason_as_of_date < cast('{{ winback.run_value("as_of_date") }}' as date)
    intersect
    select {{ kept_columns | join(', ') }}
    from {{ rows }}
),
{%- endif %}

final as (
    select described.*
    from described
    {%- if incremental %}
        anti join kept
            on described.contact_id = kept.contact_id
    {%- endif %}
)

select * from final
