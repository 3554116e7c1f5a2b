-- The priors in effect (R8): one row per reason x offer of the catalogue in effect. The
-- merchant's reason_offer_priors.csv when given, else the shipped seed; a pair neither
-- names (an offer the merchant added to the catalogue without priors) gets the lowest
-- given prior of the same kind, by the seed's rule: the offer answers the reason (listed
-- in its eligible_reasons), is a generic contact (eligible_reasons = 'any'), or neither.
-- Given priors of offers no longer in the catalogue are left out.
{%- set string = dbt.type_string() %}
with

source as (
    select * from {{ winback.source_or_ref('assumptions', 'reason_offer_priors', 'winback_reason_offer_priors') }}
),

given as (
    select
        cast(reason as {{ string }}) as reason,
        cast(offer_code as {{ string }}) as offer_code,
        cast(prior_return_probability as double) as prior_return_probability
    from source
),

catalogue as (
    select * from {{ ref('stg_assumptions__offer_catalogue') }}
),

reasons as (
    select * from {{ ref('winback_reasons') }}
),

grid as (
    select
        reasons.reason,
        catalogue.offer_code,
        case
            when catalogue.eligible_reasons = 'any' then 'generic'
            when {{ winback.delimited_list_contains('catalogue.eligible_reasons', '|', 'reasons.reason') }}
                then 'answers'
            else 'other'
        end as offer_fit
    from reasons
    cross join catalogue
),

priced as (
    select
        grid.reason,
        grid.offer_code,
        grid.offer_fit,
        given.prior_return_probability as given_prior
    from grid
    left join given
        on
            grid.reason = given.reason
            and grid.offer_code = given.offer_code
),

fit_levels as (
    select
        offer_fit,
        min(given_prior) as fit_prior
    from priced
    where given_prior is not null
    group by offer_fit
),

lowest as (
    select min(prior_return_probability) as lowest_prior
    from given
),

final as (
    select
        priced.reason,
        priced.offer_code,
        coalesce(priced.given_prior, fit_levels.fit_prior, lowest.lowest_prior, 0.0) as prior_return_probability,
        case when priced.given_prior is null then 'derived' else 'given' end as prior_source
    from priced
    left join fit_levels
        on priced.offer_fit = fit_levels.offer_fit
    cross join lowest
)

select * from final
