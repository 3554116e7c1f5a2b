{#- R2, R3: revenue over the 12 months after a customer is won back: the returning order,
    then orders at the customer's cadence (at most 26 a year), each month counted by the
    chance of still being a customer at the segment's R2 monthly churn norm (mean survival
    over months 1..12 of (1 - c)^m).

    The cadence is the customer's own median gap shrunk toward the shop's typical gap
    (``typical_gap_days``: the median gap of the segment's repeat customers at the same
    snapshot) by one pseudo-gap: (k x own + typical) / (k + 1) with k = purchase_count - 1
    observed gaps. A one-order customer has no gap of their own and gets the shop's typical
    one (one order a year when the shop has no repeat customers).

    Not the value model's expectation given alive: for a silent customer that is the rate
    of someone who stays silent, not of someone who comes back. -#}
{% macro revenue_if_won_back(avg_order_value, median_gap_days, purchase_count, typical_gap_days, segment) -%}
    {%- set churn_norm -%}
        (case
            when {{ segment }} = 'b2b' then {{ var('winback_monthly_churn_norm_b2b') }}
            else {{ var('winback_monthly_churn_norm_b2c') }}
        end)
    {%- endset -%}
    {%- set gaps -%}greatest(coalesce({{ purchase_count }}, 1) - 1, 0){%- endset -%}
    {%- set cadence -%}
        (
            ({{ gaps }} * coalesce({{ median_gap_days }}, 0) + coalesce(nullif({{ typical_gap_days }}, 0), 365.0))
            / ({{ gaps }} + 1.0)
        )
    {%- endset -%}
    {{ avg_order_value }}
    * (
        1.0
        + (1.0 - {{ churn_norm }}) * (1.0 - power(1.0 - {{ churn_norm }}, 12))
        / (12.0 * {{ churn_norm }})
        * least(365.0 / greatest({{ cadence }}, 1.0), 26.0)
    )
{%- endmacro %}

{#- The shop's typical gap between orders per segment and snapshot: the median of its repeat
    customers' median gaps (``features`` is a relation of customer_features rows). -#}
{% macro typical_gaps(features) -%}
    select
        as_of_date,
        segment,
        {{ winback.percentile_cont('median_gap_days', 0.5) }} as typical_gap_days
    from {{ features }}
    where purchase_count >= 2 and median_gap_days > 0
    group by as_of_date, segment
{%- endmacro %}
