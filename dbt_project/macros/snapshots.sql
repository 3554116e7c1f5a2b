{#- The point-in-time snapshots are built incrementally (issue 19): a night computes only the
    snapshots that are new or whose inputs changed (int_snapshot_rebuild_dates), and the
    snapshot-grained models (dbt_project.yml: &snapshot_grained) keep the others.

    The grid is anchored on fixed dates so that a snapshot built one night is the same
    snapshot the next night: the scoring snapshot is the run's as-of date, the others fall
    on `snapshot_anchor_date` + k x `snapshot_cadence_days`, newest first, strictly before
    the as-of date. -#}

{#- Days from the run's as-of date back to each snapshot, newest first: [0, r, r + c, ...]
    with r in 1..c (c the cadence). The engagement model cuts its segments at these days. -#}
{% macro snapshot_days_before_run() -%}
    {%- set run_date = modules.datetime.date.fromisoformat(winback.run_value('as_of_date') | string) -%}
    {%- set anchor = modules.datetime.date.fromisoformat(var('snapshot_anchor_date') | string) -%}
    {%- set cadence = var('snapshot_cadence_days') | int -%}
    {%- set first = ((run_date - anchor).days - 1) % cadence + 1 -%}
    {%- set days = [0] -%}
    {%- for snapshot_index in range(1, var('snapshot_count') | int) -%}
        {%- do days.append(first + (snapshot_index - 1) * cadence) -%}
    {%- endfor -%}
    {{- return(days) -}}
{%- endmacro %}

{#- snapshot_days_before_run() restricted to the snapshots this build computes (see
    snapshots_to_build): all of them when parsing and on a first or full build; on an
    incremental one, those int_snapshot_rebuild_dates flags with `flag`, read when dbt runs
    the model ([0] when none is: the model then computes no snapshot). -#}
{% macro snapshot_days_before_run_to_build(flag) -%}
    {%- set days = winback.snapshot_days_before_run() -%}
    {%- if execute and is_incremental() -%}
        {%- set rebuilt = run_query(
            'select distinct days_before_run from ' ~ ref('int_snapshot_dates')
            ~ ' where as_of_date in (select as_of_date from ' ~ ref('int_snapshot_rebuild_dates')
            ~ ' where ' ~ flag ~ ') order by days_before_run'
        ) -%}
        {%- set days = [] -%}
        {%- for row in rebuilt.rows -%}
            {%- do days.append(row[0] | int) -%}
        {%- endfor -%}
        {%- if days | length == 0 -%}
            {%- do days.append(0) -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(days) -}}
{%- endmacro %}

{#- The snapshot grid restricted to the dates this build computes: all of them on a first
    or full build; on an incremental one, those int_snapshot_rebuild_dates flags with
    `flag` (rebuild_aggregates, rebuild_labels or rebuild_features). A model calling it
    declares `-- depends_on: {{ ref('int_snapshot_rebuild_dates') }}`. -#}
{% macro snapshots_to_build(flag) -%}
    select * from {{ ref('int_snapshot_dates') }}
    {%- if is_incremental() %}
        where as_of_date in (select as_of_date from {{ ref('int_snapshot_rebuild_dates') }} where {{ flag }})
    {%- endif %}
{%- endmacro %}

{#- The pre-hook of a snapshot-grained model: before an incremental build appends the dates
    it computes, remove those dates and the dates that left the grid. On Spark the model
    overwrites the partitions of the dates it computes instead (insert_overwrite); dates
    that left the grid stay until a full refresh. -#}
{% macro delete_snapshots_to_rebuild(flag) -%}
    {%- if is_incremental() and target.type != 'spark' -%}
        delete from {{ this }}
        where
            as_of_date not in (select as_of_date from {{ ref('int_snapshot_dates') }})
            or as_of_date in (select as_of_date from {{ ref('int_snapshot_rebuild_dates') }} where {{ flag }})
    {%- endif -%}
{%- endmacro %}

{#- DuckDB's memory cap around a snapshot model's build (pre-hook: 'raise', post-hook:
    'restore'): the snapshot models run the feature build's largest queries (a full build
    of a 1M-customer shop's 12 snapshots ran out of memory at 3 and 4 GB), every other node
    keeps the profile's cap (setting warehouse.duckdb_memory_limit). Nothing without the
    product's environment (e.g. the SQL linter) or on Spark. -#}
{% macro feature_build_memory(step) -%}
    {%- set name = 'WINBACK_DBT_FEATURE_BUILD_MEMORY_LIMIT' if step == 'raise' else 'WINBACK_DBT_MEMORY_LIMIT' -%}
    {%- set limit = env_var(name, '') -%}
    {%- if target.type == 'duckdb' and limit != '' -%}
        set memory_limit = '{{ limit }}'
    {%- endif -%}
{%- endmacro %}

{#- One digest of a set of rows: the sum of a hash of every column of each row (exact, in
    decimal, so the order rows are added in does not matter). The columns are read from
    the built relation when dbt runs the model. -#}
{% macro rows_digest(relation, alias) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) if execute else [] -%}
    {%- if columns | length == 0 -%}
        cast(0 as decimal(38, 0))
    {%- else -%}
        {%- set expressions = [] -%}
        {%- for column in columns -%}
            {%- do expressions.append(alias ~ '.' ~ column.quoted) -%}
        {%- endfor -%}
        sum(cast({{ winback.row_hash(expressions) }} as decimal(38, 0)))
    {%- endif -%}
{%- endmacro %}

{#- One input of the snapshot models, digested per day: `day` is the day from which a
    changed row can change a snapshot (a snapshot sees a row from that day on). -#}
{% macro digest_by_day(input_name, input_scope, affects_labels, relation, day) -%}
    select
        '{{ input_name }}' as input_name,
        '{{ input_scope }}' as input_scope,
        {{ affects_labels }} as affects_labels,
        cast({{ day }} as date) as input_day,
        count(*) as row_count,
        {{ winback.rows_digest(relation, 'input_rows') }} as row_digest
    from {{ relation }} as input_rows
    group by cast({{ day }} as date)
{%- endmacro %}

{% macro row_hash(expressions) -%}
    {{ return(adapter.dispatch('row_hash', 'winback')(expressions)) }}
{%- endmacro %}

{% macro default__row_hash(expressions) -%}
    hash({{ expressions | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(expressions) -%}
    xxhash64({{ expressions | join(', ') }})
{%- endmacro %}

{#- The pre-hook of int_winback_response_rows (issue 19): before an incremental build
    appends the rows of the contacts it computes, remove their old rows and those of the
    contacts that are no longer in the history. -#}
{% macro delete_response_rows_to_rebuild() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            contact_id in (select contact_id from {{ ref('int_winback_contacts_to_describe') }})
            or contact_id not in (select contact_id from {{ ref('int_winback_past_contacts_dated') }})
    {%- endif -%}
{%- endmacro %}
