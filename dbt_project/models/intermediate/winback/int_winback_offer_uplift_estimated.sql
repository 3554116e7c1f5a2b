-- R8, R10: P(return | offer, reason) as an uplift, learned from past campaigns where
-- there is enough of them and from the documented priors where there is not.
-- 1. Every past contact (treatment and control: control rows carry the offer they would
--    have had) is read with the reasons its customer had at the latest snapshot on or
--    before the contact, as soft weights (the reason confidences).
-- 2. Offer level: observed uplift = conversion(treatment) - conversion(control); shrunk
--    towards the prior averaged over the treated customers' reasons, with
--    winback_uplift_prior_strength pseudo-contacts against the effective sample size
--    n_t * n_c / (n_t + n_c). The ratio shrunk / prior rescales the offer's priors.
-- 3. Cell level (offer x reason): the same shrinkage of the cell's observed uplift
--    towards the rescaled prior. Offers without history keep their priors.
{%- set strength = var('winback_uplift_prior_strength') %}

with

reasons as (
    select * from {{ ref('int_winback_reasons_scored') }}
),

priors as (
    select * from {{ ref('stg_assumptions__reason_offer_priors') }}
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

past_contacts as (
    select * from {{ ref('int_winback_past_contacts_dated') }}
),

weighted_contacts as (
    select
        past_contacts.offer_code,
        reasons.reason,
        past_contacts.is_control,
        reasons.reason_confidence as weight,
        reasons.reason_confidence * cast(past_contacts.is_converted as integer) as weighted_conversion
    from past_contacts
    inner join reasons
        on
            past_contacts.customer_id = reasons.customer_id
            and past_contacts.reason_as_of_date = reasons.as_of_date
),

cells as (
    select
        offer_code,
        reason,
        sum(weight) filter (where not is_control) as treated,
        sum(weighted_conversion) filter (where not is_control) as treated_conversions,
        sum(weight) filter (where is_control) as controls,
        sum(weighted_conversion) filter (where is_control) as control_conversions
    from weighted_contacts
    group by offer_code, reason
),

grid as (
    select
        catalogue.offer_code,
        priors.reason,
        priors.prior_return_probability,
        coalesce(cells.treated, 0) as treated,
        coalesce(cells.treated_conversions, 0) as treated_conversions,
        coalesce(cells.controls, 0) as controls,
        coalesce(cells.control_conversions, 0) as control_conversions
    from catalogue
    inner join priors
        on catalogue.offer_code = priors.offer_code
    left join cells
        on
            priors.offer_code = cells.offer_code
            and priors.reason = cells.reason
),

offer_level as (
    select
        offer_code,
        sum(treated) as treated,
        sum(controls) as controls,
        sum(treated_conversions) / nullif(sum(treated), 0)
        - sum(control_conversions) / nullif(sum(controls), 0) as observed_uplift,
        coalesce(
            sum(prior_return_probability * treated) / nullif(sum(treated), 0),
            avg(prior_return_probability)
        ) as prior_uplift
    from grid
    group by offer_code
),

offer_scaled as (
    select
        offer_code,
        treated,
        controls,
        observed_uplift,
        prior_uplift,
        coalesce(treated * controls / nullif(treated + controls, 0), 0) as effective_n,
        (
            coalesce(treated * controls / nullif(treated + controls, 0), 0) * coalesce(observed_uplift, 0)
            + {{ strength }} * prior_uplift
        ) / (coalesce(treated * controls / nullif(treated + controls, 0), 0) + {{ strength }}) as shrunk_uplift
    from offer_level
),

cell_estimates as (
    select
        grid.offer_code,
        grid.reason,
        grid.prior_return_probability,
        grid.treated,
        grid.controls,
        grid.treated_conversions / nullif(grid.treated, 0)
        - grid.control_conversions / nullif(grid.controls, 0) as observed_uplift,
        grid.prior_return_probability * greatest(offer_scaled.shrunk_uplift, 0.0)
        / nullif(offer_scaled.prior_uplift, 0) as rescaled_prior,
        coalesce(grid.treated * grid.controls / nullif(grid.treated + grid.controls, 0), 0) as effective_n
    from grid
    inner join offer_scaled
        on grid.offer_code = offer_scaled.offer_code
),

final as (
    select
        offer_code,
        reason,
        prior_return_probability,
        treated as treated_contacts,
        controls as control_contacts,
        effective_n as effective_contacts,
        observed_uplift,
        -- Never below a small floor: a contact rarely makes a customer less likely to buy,
        -- and an estimate of exactly zero would hide the offer for good.
        greatest(
            least(
                (effective_n * coalesce(observed_uplift, 0) + {{ strength }} * coalesce(rescaled_prior, 0))
                / (effective_n + {{ strength }}),
                1.0
            ),
            0.001
        ) as return_probability,
        case
            when effective_n >= {{ strength }} then 'campaign_history'
            when effective_n > 0 then 'history_and_prior'
            else 'prior'
        end as estimate_source
    from cell_estimates
)

select * from final
