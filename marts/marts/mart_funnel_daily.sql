-- mart_funnel_daily: the buying funnel view -> chat -> reservation -> sale, per day and listing region.
-- Each step counts what happened on dt; a listing sold today may have been viewed or chatted on an earlier day,
-- so the rates compare the day's volumes at consecutive steps rather than follow individual journeys.
-- Region is the listing's region; 0 when the listing predates the platform's history (its region is unknown).
with

views as (
    select
        v.listing_id,
        v.user_id,
        coalesce(v.listing_region_id, 0) as region_id
    from fct_listing_views as v
    where v.dt = :ds
),

chats as (
    select
        c.listing_id,
        c.buyer_id,
        coalesce(c.region_id, 0) as region_id
    from fct_chats as c
    where c.dt = :ds
),

reservations as (
    select
        r.listing_id,
        r.buyer_id
    from stg_reservations as r
    where r.dt = :ds
),

listings as (
    select
        l.listing_id,
        l.region_id
    from dim_listings as l
    where l.dt = :ds
),

transactions as (
    select
        t.listing_id,
        t.buyer_id,
        coalesce(t.region_id, 0) as region_id
    from fct_transactions as t
    where t.dt = :ds
),

steps as (
    select v.region_id, 'view' as step, v.listing_id, v.user_id from views as v
    union all
    select c.region_id, 'chat' as step, c.listing_id, c.buyer_id as user_id from chats as c
    union all
    select
        coalesce(l.region_id, 0) as region_id,
        'reservation' as step,
        r.listing_id,
        r.buyer_id as user_id
    from reservations as r
    left join listings as l
        on r.listing_id = l.listing_id
    union all
    select t.region_id, 'sale' as step, t.listing_id, t.buyer_id as user_id from transactions as t
),

by_region as (
    select
        s.region_id,
        count(distinct case when s.step = 'view' then s.listing_id end) as listings_viewed,
        count(distinct case when s.step = 'chat' then s.listing_id end) as listings_chatted,
        count(distinct case when s.step = 'reservation' then s.listing_id end) as listings_reserved,
        count(distinct case when s.step = 'sale' then s.listing_id end) as listings_sold,
        count(distinct case when s.step = 'view' then s.user_id end) as viewers,
        count(distinct case when s.step = 'chat' then s.user_id end) as chatters,
        count(distinct case when s.step = 'sale' then s.user_id end) as buyers
    from steps as s
    group by s.region_id
)

select
    b.region_id,
    b.listings_viewed,
    b.listings_chatted,
    b.listings_reserved,
    b.listings_sold,
    b.viewers,
    b.chatters,
    b.buyers,
    b.listings_chatted / nullif(b.listings_viewed, 0) as view_to_chat_rate,
    b.listings_reserved / nullif(b.listings_chatted, 0) as chat_to_reservation_rate,
    b.listings_sold / nullif(b.listings_reserved, 0) as reservation_to_sale_rate,
    b.listings_sold / nullif(b.listings_viewed, 0) as view_to_sale_rate,
    b.chatters / nullif(b.viewers, 0) as viewer_to_chatter_rate,
    b.buyers / nullif(b.chatters, 0) as chatter_to_buyer_rate,
    :ds as dt
from by_region as b
