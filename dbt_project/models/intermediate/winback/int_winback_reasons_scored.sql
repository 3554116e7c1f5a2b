-- R7: why a customer is leaving, one row per customer and reason at the scoring snapshot:
-- evidence points, rank, confidence and the evidence in words (the likeliest reasons of the
-- list, the offers they open: int_winback_candidates_screened, int_winback_offers_eligible).
-- The points, ranks and confidences come from int_winback_reasons_wide, which scores the
-- reasons side by side (also at the snapshots past contacts read).
{%- set reason_names = winback.reason_names() %}

with

wide as (
    select * from {{ ref('int_winback_reasons_wide') }}
    where is_scoring_snapshot
),

reasons as (
    select * from {{ ref('winback_reasons') }}
),

final as (
    select
        wide.customer_id,
        wide.as_of_date,
        wide.is_scoring_snapshot,
        reasons.reason,
        reasons.label as reason_label,
        case reasons.reason
            {%- for reason in reason_names %}
                when '{{ reason }}' then wide.reason_points_{{ reason }}
            {%- endfor %}
        end as reason_points,
        case reasons.reason
            {%- for reason in reason_names %}
                when '{{ reason }}' then wide.reason_conf__{{ reason }}
            {%- endfor %}
        end as reason_confidence,
        case reasons.reason
            {%- for reason in reason_names %}
                when '{{ reason }}' then wide.reason_rank_{{ reason }}
            {%- endfor %}
        end as reason_rank,
        -- What the evidence was, in words (the reasons disputes and discounts speak for).
        case reasons.reason
            when 'price'
                then nullif(concat_ws(
                    ', ',
                    case
                        when wide.discounted_purchase_share >= 0.3
                            then cast(round(100 * wide.discounted_purchase_share) as integer) || '% of purchases on discount'
                    end,
                    case when wide.disputes_price > 0 then wide.disputes_price || ' price complaint(s)' end
                ), '')
            when 'logistics'
                then case
                    when wide.disputes_logistics > 0 then wide.disputes_logistics || ' delivery dispute(s)'
                end
            when 'quality'
                then case
                    when wide.disputes_product > 0 then wide.disputes_product || ' product dispute(s)'
                end
            when 'service_attitude' then case
                when wide.disputes_attitude > 0 then wide.disputes_attitude || ' service-attitude dispute(s)'
            end
        end as reason_evidence
    from wide
    cross join reasons
)

select * from final
