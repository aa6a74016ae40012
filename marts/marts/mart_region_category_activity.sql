-- mart_region_category_activity: one day's marketplace activity per listing region and category: views, chats,
-- new listings and sales. Transactions and GMV come from mart_gmv_daily so both marts agree. Region 0 and
-- category 'unknown' hold activity on listings created before the platform's event history.
with

views as (
    select
        coalesce(v.listing_region_id, 0) as region_id,
        coalesce(v.category, 'unknown') as category,
        v.user_id
    from fct_listing_views as v
    where v.dt = :ds
),

chats as (
    select
        coalesce(c.region_id, 0) as region_id,
        coalesce(c.category, 'unknown') as category,
        c.buyer_id
    from fct_chats as c
    where c.dt = :ds
),

new_listings as (
    select
        coalesce(l.region_id, 0) as region_id,
        coalesce(l.category, 'unknown') as category,
        l.listing_id
    from stg_listings as l
    where l.dt = :ds
),

sales as (
    select
        g.region_id,
        g.category,
        g.transactions,
        g.gmv
    from mart_gmv_daily as g
    where g.dt = :ds
),

view_counts as (
    select
        vw.region_id,
        vw.category,
        count(*) as views,
        count(distinct vw.user_id) as viewers
    from views as vw
    group by vw.region_id, vw.category
),

chat_counts as (
    select
        ch.region_id,
        ch.category,
        count(*) as chats,
        count(distinct ch.buyer_id) as chatters
    from chats as ch
    group by ch.region_id, ch.category
),

listing_counts as (
    select
        nl.region_id,
        nl.category,
        count(distinct nl.listing_id) as new_listings
    from new_listings as nl
    group by nl.region_id, nl.category
),

combined as (
    select
        vc.region_id,
        vc.category,
        vc.views,
        vc.viewers,
        cast(0 as bigint) as chats,
        cast(0 as bigint) as chatters,
        cast(0 as bigint) as new_listings,
        cast(0 as bigint) as transactions,
        cast(0 as bigint) as gmv
    from view_counts as vc
    union all
    select
        cc.region_id,
        cc.category,
        cast(0 as bigint) as views,
        cast(0 as bigint) as viewers,
        cc.chats,
        cc.chatters,
        cast(0 as bigint) as new_listings,
        cast(0 as bigint) as transactions,
        cast(0 as bigint) as gmv
    from chat_counts as cc
    union all
    select
        lc.region_id,
        lc.category,
        cast(0 as bigint) as views,
        cast(0 as bigint) as viewers,
        cast(0 as bigint) as chats,
        cast(0 as bigint) as chatters,
        lc.new_listings,
        cast(0 as bigint) as transactions,
        cast(0 as bigint) as gmv
    from listing_counts as lc
    union all
    select
        sa.region_id,
        sa.category,
        cast(0 as bigint) as views,
        cast(0 as bigint) as viewers,
        cast(0 as bigint) as chats,
        cast(0 as bigint) as chatters,
        cast(0 as bigint) as new_listings,
        sa.transactions,
        sa.gmv
    from sales as sa
),

totals as (
    select
        cb.region_id,
        cb.category,
        sum(cb.views) as views,
        sum(cb.viewers) as viewers,
        sum(cb.chats) as chats,
        sum(cb.chatters) as chatters,
        sum(cb.new_listings) as new_listings,
        sum(cb.transactions) as transactions,
        sum(cb.gmv) as gmv
    from combined as cb
    group by cb.region_id, cb.category
)

select
    t.region_id,
    t.category,
    t.views,
    t.viewers,
    t.chats,
    t.chatters,
    t.new_listings,
    t.transactions,
    t.gmv,
    t.chats / nullif(t.views, 0) as chats_per_view,
    :ds as dt
from totals as t
