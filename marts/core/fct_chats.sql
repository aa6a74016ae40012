-- fct_chats: every chat opened on the day, with the listing's region, category and creation time, and whether it
-- was the first chat ever opened on that listing.
with

chats as (
    select
        chats.event_time,
        chats.chat_id,
        chats.listing_id,
        chats.buyer_id,
        chats.seller_id
    from stg_chats as chats
    where chats.dt = :ds
),

listings as (
    select
        listings.listing_id,
        listings.region_id,
        listings.category,
        listings.created_at,
        listings.first_chat_at
    from dim_listings as listings
    where listings.dt = :ds
),

ranked_chats as (
    select
        c.chat_id,
        c.listing_id,
        c.buyer_id,
        c.seller_id,
        c.event_time as started_at,
        row_number() over (partition by c.listing_id order by c.event_time, c.chat_id) as chat_number_today
    from chats as c
)

select
    c.chat_id,
    c.listing_id,
    c.buyer_id,
    c.seller_id,
    l.region_id,
    l.category,
    c.started_at,
    l.created_at as listing_created_at,
    case
        when c.chat_number_today > 1 then false  -- an earlier chat on the listing that same day
        when l.listing_id is null then null  -- listing created before event collection: earlier chats unknown
        else l.first_chat_at = c.started_at  -- dim_listings.first_chat_at already includes the day's chats
    end as is_first_chat,
    :ds as dt
from ranked_chats as c
left join listings as l
    on c.listing_id = l.listing_id
