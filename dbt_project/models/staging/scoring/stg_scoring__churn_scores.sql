-- Tonight's churn scores as scoring wrote them (one as-of date), typed for the mart.
{%- set string = dbt.type_string() %}
with

scored as (
    select * from {{ winback.source_or_empty('scoring', 'churn_scores', {
        'as_of_date': 'date',
        'customer_id': string,
        'churn_probability': 'double',
        'model_version': string,
        'risk_band': string,
        'reason_1': string,
        'reason_2': string,
        'reason_3': string,
        'reason_1_code': string,
        'reason_2_code': string,
        'reason_3_code': string,
        'reason_method': string,
        'p_alive': 'double',
        'expected_value_12m': 'double',
        'expected_next_order_date': 'date',
        'scored_at': dbt.type_timestamp(),
    }) }} as source_rows
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(customer_id as {{ string }}) as customer_id,
        cast(churn_probability as double) as churn_probability,
        cast(model_version as {{ string }}) as model_version,
        cast(scored_at as {{ dbt.type_timestamp() }}) as scored_at,
        cast(risk_band as {{ string }}) as risk_band,
        cast(reason_1 as {{ string }}) as reason_1,
        cast(reason_2 as {{ string }}) as reason_2,
        cast(reason_3 as {{ string }}) as reason_3,
        cast(reason_1_code as {{ string }}) as reason_1_code,
        cast(reason_2_code as {{ string }}) as reason_2_code,
        cast(reason_3_code as {{ string }}) as reason_3_code,
        cast(reason_method as {{ string }}) as reason_method,
        cast(p_alive as double) as p_alive,
        cast(expected_value_12m as double) as expected_value_12m,
        cast(expected_next_order_date as date) as expected_next_order_date
    from scored
)

select * from final
