-- R11, R13: every channel each customer can be reached on today (consent given; a visit
-- only for B2B accounts). The backtest (models/decision_backtest.py) values a policy on a
-- past campaign, which drew each contact's channel among the ones its customer could be
-- reached on: a customer reachable by email alone costs an email, not the mean of every
-- channel of the campaign. A view: the backtest reads the rows of one campaign's customers.
{{ config(materialized='view') }}

with

customers as (
    select * from {{ ref('int_customers_consented') }}
),

channels as (
    select * from {{ ref('stg_assumptions__channels') }}
),

final as (
    select
        customers.customer_id,
        channels.channel
    from customers
    inner join channels
        on {{ winback.has_channel_consent('channels', 'customers') }}
    where channels.channel <> 'visit' or customers.segment = 'b2b'
)

select * from final
