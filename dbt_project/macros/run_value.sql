{% macro run_value(name) %}
    {#-
        A value that changes on every run: `as_of_date` (the run's as-of date) and
        `reminder_at` (the payment-reminder run's time, UTC; default the end of the as-of
        day). The flows pass it in the environment as WINBACK_DBT_<NAME> instead of as a
        dbt var: dbt re-parses the whole project whenever --vars change (seconds on every
        invocation), while a changed env var only re-renders the models that read it.
        A var still wins when given (dbt by hand: --vars '{as_of_date: 2026-06-30}', and
        unit-test overrides).
    -#}
    {%- if name == 'as_of_date' -%}
        {%- set default = '2026-06-30' -%}
    {%- elif name == 'reminder_at' -%}
        {%- set default = run_value('as_of_date') ~ ' 23:59:59' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error('run_value: unknown run value ' ~ name) }}
    {%- endif -%}
    {{- return(var(name, none) if var(name, none) is not none else env_var('WINBACK_DBT_' ~ name | upper, default)) -}}
{% endmacro %}
