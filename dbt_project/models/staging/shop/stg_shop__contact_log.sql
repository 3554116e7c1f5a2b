-- Issue 17: the merchant's sender reports back on the contacts Winback exported. The key
-- says what was contacted: wb-<yyyymmdd>-<customer_id>-<step> (a win-back contact) or
-- rm-<order_id> (a payment reminder); the customer comes from the row when the log has
-- the column, else from the win-back key (a reminder's customer is its order's).
with

source as (
    select * from {{ source('shop', 'contact_log') }}
),

final as (
    select
        contact_key,
        case
            when contact_key like 'wb-%' then 'winback'
            when contact_key like 'rm-%' then 'reminder'
            else 'other'
        end as contact_kind,
        coalesce(
            customer_id,
            case
                when contact_key like 'wb-%'
                    then nullif(regexp_extract(contact_key, '^wb-[0-9]{8}-(.+)-[0-9]+$', 1), '')
            end
        ) as customer_id,
        case when contact_key like 'rm-%' then substr(contact_key, 4) end as order_id,
        channel,
        status as contact_status,
        status_ts as status_at
    from source
)

select * from final
