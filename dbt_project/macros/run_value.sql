{% macro run_value(name) %}
    {#-
        A value that changes on every run: `as_of_date` (the run's as-of date),
        `reminder_at` (the payment-reminder run's time, UTC; default the end of the as-of
        day) and `send_from` (no win-back contact before it, UTC; default the start of the
        as-of day, which moves nothing). winback.transform passes them in the environment as WINBACK_DBT_<NAME>
        instead of as dbt vars: dbt re-parses the whole project whenever --vars change
        (seconds on every invocation), while a changed env var only re-renders the models
        that read it. A var still wins when given (unit-test overrides).
    -#}
    {%- if var(name, none) is not none -%}
        {{- return(var(name)) -}}
    {%- endif -%}
    {%- set value = env_var('WINBACK_DBT_' ~ name | upper, '') -%}
    {%- if value == '' and name == 'reminder_at' -%}
        {%- set value = run_value('as_of_date') ~ ' 23:59:59' -%}
    {%- endif -%}
    {%- if value == '' and name == 'send_from' -%}
        {%- set value = run_value('as_of_date') ~ ' 00:00:00' -%}
    {%- endif -%}
    {%- if value == '' -%}
        {{ exceptions.raise_compiler_error(
            'run_value: ' ~ name ~ ' is not set. Run dbt through the product, which sets it: '
            ~ '`winback dbt build --as-of YYYY-MM-DD ...`'
        ) }}
    {%- endif -%}
    {{- return(value) -}}
{% endmacro %}
