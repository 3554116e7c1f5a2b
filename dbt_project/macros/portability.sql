{#- Cross-database helpers for what dbt's own cross-database macros (dbt.datediff,
    dbt.dateadd, dbt.type_string, ...) do not cover. Each dispatches on the adapter:
    duckdb__ is the warehouse the flows use (its SQL is exactly what the models had
    before), spark__ is the portability target (`dbt build --target spark`), default__
    is the ANSI-ish form for any other adapter. -#}

{#- A one-column relation of the integers start..stop (inclusive), for a cross join:
    `cross join {{ winback.integer_range(0, 11, 'step') }} as steps`. -#}
{% macro integer_range(start, stop, column_name) -%}
    {{ return(adapter.dispatch('integer_range', 'winback')(start, stop, column_name)) }}
{%- endmacro %}

{% macro default__integer_range(start, stop, column_name) -%}
    (select cast(range_value as integer) as {{ column_name }} from generate_series({{ start }}, {{ stop }}) as ranged (range_value))
{%- endmacro %}

{% macro duckdb__integer_range(start, stop, column_name) -%}
    (select cast(generate_series as integer) as {{ column_name }} from generate_series({{ start }}, {{ stop }}))
{%- endmacro %}

{% macro spark__integer_range(start, stop, column_name) -%}
    (select explode(sequence(cast({{ start }} as integer), cast({{ stop }} as integer))) as {{ column_name }})
{%- endmacro %}

{#- A UTC timestamp (no time zone) as the wall-clock time in `tz`, and back. -#}
{% macro utc_to_local(timestamp_expr, tz) -%}
    {{ return(adapter.dispatch('utc_to_local', 'winback')(timestamp_expr, tz)) }}
{%- endmacro %}

{% macro default__utc_to_local(timestamp_expr, tz) -%}
    cast(({{ timestamp_expr }}) at time zone 'UTC' at time zone {{ tz }} as timestamp)
{%- endmacro %}

{% macro duckdb__utc_to_local(timestamp_expr, tz) -%}
    timezone({{ tz }}, cast({{ timestamp_expr }} as timestamptz))
{%- endmacro %}

{% macro spark__utc_to_local(timestamp_expr, tz) -%}
    from_utc_timestamp({{ timestamp_expr }}, {{ tz }})
{%- endmacro %}

{% macro local_to_utc(timestamp_expr, tz) -%}
    {{ return(adapter.dispatch('local_to_utc', 'winback')(timestamp_expr, tz)) }}
{%- endmacro %}

{% macro default__local_to_utc(timestamp_expr, tz) -%}
    cast(({{ timestamp_expr }}) at time zone {{ tz }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__local_to_utc(timestamp_expr, tz) -%}
    cast(timezone({{ tz }}, {{ timestamp_expr }}) as timestamp)
{%- endmacro %}

{% macro spark__local_to_utc(timestamp_expr, tz) -%}
    to_utc_timestamp({{ timestamp_expr }}, {{ tz }})
{%- endmacro %}

{#- Continuous percentile (linear interpolation), as an aggregate: quantile_cont. -#}
{% macro percentile_cont(expr, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'winback')(expr, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile_cont(expr, fraction) -%}
    percentile({{ expr }}, {{ fraction }})
{%- endmacro %}

{#- The value of `expr` on the row where `order_expr` is largest (arg_max / max_by). -#}
{% macro arg_max(expr, order_expr) -%}
    {{ return(adapter.dispatch('arg_max', 'winback')(expr, order_expr)) }}
{%- endmacro %}

{% macro default__arg_max(expr, order_expr) -%}
    max_by({{ expr }}, {{ order_expr }})
{%- endmacro %}

{% macro duckdb__arg_max(expr, order_expr) -%}
    arg_max({{ expr }}, {{ order_expr }})
{%- endmacro %}

{#- Whether `value` is one of the items of the `delimiter`-separated string `list_expr`. -#}
{% macro delimited_list_contains(list_expr, delimiter, value) -%}
    {{ return(adapter.dispatch('delimited_list_contains', 'winback')(list_expr, delimiter, value)) }}
{%- endmacro %}

{% macro default__delimited_list_contains(list_expr, delimiter, value) -%}
    position({{ dbt.concat(["'" ~ delimiter ~ "'", value, "'" ~ delimiter ~ "'"]) }} in {{ dbt.concat(["'" ~ delimiter ~ "'", list_expr, "'" ~ delimiter ~ "'"]) }}) > 0
{%- endmacro %}

{% macro duckdb__delimited_list_contains(list_expr, delimiter, value) -%}
    list_contains(string_split({{ list_expr }}, '{{ delimiter }}'), {{ value }})
{%- endmacro %}

{% macro spark__delimited_list_contains(list_expr, delimiter, value) -%}
    array_contains(split({{ list_expr }}, '[{{ delimiter }}]'), {{ value }})
{%- endmacro %}

{#- A hexadecimal string (at most 15 digits) as a number. -#}
{% macro hex_to_number(hex_expr) -%}
    {{ return(adapter.dispatch('hex_to_number', 'winback')(hex_expr)) }}
{%- endmacro %}

{% macro duckdb__hex_to_number(hex_expr) -%}
    cast(('0x' || {{ hex_expr }}) as ubigint)
{%- endmacro %}

{% macro spark__hex_to_number(hex_expr) -%}
    cast(conv({{ hex_expr }}, 16, 10) as double)
{%- endmacro %}

{#- round() to a number of digits computed per row (Spark wants a constant scale). -#}
{% macro round_to_digits(expr, digits_expr) -%}
    {{ return(adapter.dispatch('round_to_digits', 'winback')(expr, digits_expr)) }}
{%- endmacro %}

{% macro default__round_to_digits(expr, digits_expr) -%}
    round({{ expr }}, {{ digits_expr }})
{%- endmacro %}

{% macro spark__round_to_digits(expr, digits_expr) -%}
    round({{ expr }} * power(10, {{ digits_expr }})) / power(10, {{ digits_expr }})
{%- endmacro %}

{#- An interval of `expr` minutes / hours, where `expr` is a column or expression. -#}
{% macro interval_minutes(expr) -%}
    {{ return(adapter.dispatch('interval_minutes', 'winback')(expr)) }}
{%- endmacro %}

{% macro default__interval_minutes(expr) -%}
    ({{ expr }}) * interval '1 minute'
{%- endmacro %}

{% macro duckdb__interval_minutes(expr) -%}
    to_minutes({{ expr }})
{%- endmacro %}

{% macro spark__interval_minutes(expr) -%}
    make_interval(0, 0, 0, 0, 0, {{ expr }}, 0)
{%- endmacro %}

{% macro interval_hours(expr) -%}
    {{ return(adapter.dispatch('interval_hours', 'winback')(expr)) }}
{%- endmacro %}

{% macro default__interval_hours(expr) -%}
    ({{ expr }}) * interval '1 hour'
{%- endmacro %}

{% macro duckdb__interval_hours(expr) -%}
    to_hours({{ expr }})
{%- endmacro %}

{% macro spark__interval_hours(expr) -%}
    make_interval(0, 0, 0, 0, {{ expr }}, 0, 0)
{%- endmacro %}

{#- The IANA time-zone names the database can convert to, as a relation (timezone_name). -#}
{% macro known_timezone_names() -%}
    {{ return(adapter.dispatch('known_timezone_names', 'winback')()) }}
{%- endmacro %}

{% macro default__known_timezone_names() -%}
    (select name as timezone_name from pg_timezone_names)
{%- endmacro %}

{% macro duckdb__known_timezone_names() -%}
    (select name as timezone_name from pg_timezone_names())
{%- endmacro %}

{#- Spark lists no zone names: take the tz database dbt ships (pytz), less the names
    Java's zone rules (Spark 4.3, Java 17) reject. -#}
{% macro spark__known_timezone_names() -%}
    {%- set names = modules.pytz.all_timezones | reject('in', ['America/Coyhaique', 'ROC']) | list -%}
    (select explode(array('{{ names | join("', '") }}')) as timezone_name)
{%- endmacro %}

{#- The median (continuous: the mean of the two middle values of an even count). -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'winback')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    {{ winback.percentile_cont(expr, 0.5) }}
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    percentile({{ expr }}, 0.5)
{%- endmacro %}

{#- Whole minutes from `start_expr` to `end_expr`, counted as minute boundaries crossed
    (DuckDB's date_diff; dbt-spark's dbt.datediff rounds the seconds up instead). -#}
{% macro minutes_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('minutes_between', 'winback')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__minutes_between(start_expr, end_expr) -%}
    {{ dbt.datediff(start_expr, end_expr, 'minute') }}
{%- endmacro %}

{% macro spark__minutes_between(start_expr, end_expr) -%}
    cast((unix_timestamp(date_trunc('minute', {{ end_expr }})) - unix_timestamp(date_trunc('minute', {{ start_expr }}))) / 60 as bigint)
{%- endmacro %}
