-- R5: five value tiers with boundaries that do not move from run to run. The first run
-- on a warehouse (or a run with winback_recalibrate_value_tiers=true) sets them at the
-- 80/60/40/20th percentiles of the candidates' value at stake, rounded to two significant
-- digits so a person can read and remember them; every later run reuses them as stored.
{%- set recalibrate = var('winback_recalibrate_value_tiers') in [true, 'true', 'True', 1, '1'] %}

with

{% if is_incremental() and not recalibrate -%}

stored as (
    select * from {{ this }}
),

final as (
    select * from stored
)

{%- else -%}

    candidates as (
        select * from {{ ref('int_winback_candidates_valued') }}
    ),

    percentiles as (
        select
            count(*) as calibration_customers,
            {{ winback.percentile_cont('value_if_retained_12m', 0.8) }} as p80,
            {{ winback.percentile_cont('value_if_retained_12m', 0.6) }} as p60,
            {{ winback.percentile_cont('value_if_retained_12m', 0.4) }} as p40,
            {{ winback.percentile_cont('value_if_retained_12m', 0.2) }} as p20
        from candidates
        where value_if_retained_12m > 0
    ),

    -- Defaults for a shop too small to calibrate on (no candidate with a positive value).
    raw_bounds as (
        select
            percentiles.calibration_customers,
            tiers.value_tier,
            case tiers.value_tier
                when 1 then coalesce(percentiles.p80, 400.0)
                when 2 then coalesce(percentiles.p60, 150.0)
                when 3 then coalesce(percentiles.p40, 60.0)
                when 4 then coalesce(percentiles.p20, 20.0)
            end as raw_min_value
        from percentiles
        cross join {{ winback.integer_range(1, 5, 'value_tier') }} as tiers
    ),

    rounded as (
        select
            value_tier,
            calibration_customers,
            case
                when raw_min_value is null then null
                when raw_min_value <= 0 then 0.0
                else {{ winback.round_to_digits('raw_min_value', 'cast(1 - floor(log10(raw_min_value)) as integer)') }}
            end as min_value_12m
        from raw_bounds
    ),

    final as (
        select
            value_tier,
            min_value_12m,
            lag(min_value_12m) over (order by value_tier) as below_value_12m,
            cast('{{ run_value('as_of_date') }}' as date) as calibrated_as_of_date,
            calibration_customers
        from rounded
    )

{%- endif %}

select * from final
