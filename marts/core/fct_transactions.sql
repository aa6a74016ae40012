-- fct_transactions: every sale completed on the day, with the listing's region, category, asking price and
-- creation time (null when the listing was created before event collection began).
with

transactions as (
    select
        transactions.event_time,
        transactions.transaction_id,
        transactions.listing_id,
        transactions.buyer_id,
        transactions.seller_id,
        transactions.price
    from stg_transactions as transactions
    where transactions.dt = :ds
),

listings as (
    select
        listings.listing_id,
        listings.region_id,
        listings.category,
        listings.price,
        listings.created_at
    from dim_listings as listings
    where listings.dt = :ds
)

select
    t.transaction_id,
    t.listing_id,
    t.buyer_id,
    t.seller_id,
    t.price,
    l.region_id,
    l.category,
    l.price as listed_price,
    t.event_time as completed_at,
    l.created_at as listing_created_at,
    :ds as dt
from transactions as t
left join listings as l
    on t.listing_id = l.listing_id
