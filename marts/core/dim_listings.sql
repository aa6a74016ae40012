-- dim_listings: every listing created so far, one row per listing per day, with where it stands in its life cycle.
-- Yesterday's snapshot carried forward and updated with the day's chats, reservations, sales, reports and
-- moderation decisions; the first date starts from an empty snapshot. Events about listings created before event
-- collection began are not in this table.
with

previous_snapshot as (
    select
        listings.listing_id,
        listings.seller_id,
        listings.region_id,
        listings.category,
        listings.price,
        listings.created_at,
        listings.first_chat_at,
        listings.reserved_at,
        listings.sold_at,
        listings.sold_price,
        listings.moderation_label,
        listings.first_reported_at,
        listings.report_count
    from dim_listings as listings
    where listings.dt = date_sub(:ds, 1)
),

created_listings as (
    select
        listings.listing_id,
        listings.seller_id,
        listings.region_id,
        listings.category,
        listings.price,
        listings.event_id,
        listings.event_time
    from stg_listings as listings
    where listings.dt = :ds
),

chats as (
    select
        chats.listing_id,
        chats.event_time
    from stg_chats as chats
    where chats.dt = :ds
),

reservations as (
    select
        reservations.listing_id,
        reservations.event_time
    from stg_reservations as reservations
    where reservations.dt = :ds
),

transactions as (
    select
        transactions.listing_id,
        transactions.price,
        transactions.event_id,
        transactions.event_time
    from stg_transactions as transactions
    where transactions.dt = :ds
),

reports as (
    select
        reports.listing_id,
        reports.event_time
    from stg_reports as reports
    where reports.dt = :ds
),

moderation_decisions as (
    select
        decisions.listing_id,
        decisions.label,
        decisions.event_id,
        decisions.event_time
    from stg_moderation_decisions as decisions
    where decisions.dt = :ds
),

ranked_new_listings as (
    select
        c.listing_id,
        c.seller_id,
        c.region_id,
        c.category,
        c.price,
        c.event_time as created_at,
        row_number() over (partition by c.listing_id order by c.event_time, c.event_id) as creation_number
    from created_listings as c
    where c.listing_id is not null
),

new_listings as (
    select
        n.listing_id,
        n.seller_id,
        n.region_id,
        n.category,
        n.price,
        n.created_at
    from ranked_new_listings as n
    where n.creation_number = 1
),

chats_today as (
    select
        c.listing_id,
        min(c.event_time) as first_chat_at
    from chats as c
    group by c.listing_id
),

reservations_today as (
    select
        r.listing_id,
        max(r.event_time) as reserved_at
    from reservations as r
    group by r.listing_id
),

ranked_sales as (
    select
        t.listing_id,
        t.price,
        t.event_time,
        row_number() over (partition by t.listing_id order by t.event_time, t.event_id) as sale_number
    from transactions as t
),

sales_today as (
    select
        s.listing_id,
        s.event_time as sold_at,
        s.price as sold_price
    from ranked_sales as s
    where s.sale_number = 1
),

reports_today as (
    select
        r.listing_id,
        min(r.event_time) as first_reported_at,
        count(*) as report_count
    from reports as r
    group by r.listing_id
),

ranked_decisions as (
    select
        d.listing_id,
        d.label,
        row_number() over (partition by d.listing_id order by d.event_time desc, d.event_id desc) as recency
    from moderation_decisions as d
),

latest_decisions_today as (
    select
        d.listing_id,
        d.label
    from ranked_decisions as d
    where d.recency = 1
),

-- yesterday's listings plus the ones created today (a listing already in the snapshot keeps its creation)
listings as (
    select
        p.listing_id,
        p.seller_id,
        p.region_id,
        p.category,
        p.price,
        p.created_at,
        p.first_chat_at,
        p.reserved_at,
        p.sold_at,
        p.sold_price,
        p.moderation_label,
        p.first_reported_at,
        p.report_count
    from previous_snapshot as p
    union all
    select
        n.listing_id,
        n.seller_id,
        n.region_id,
        n.category,
        n.price,
        n.created_at,
        cast(null as timestamp) as first_chat_at,
        cast(null as timestamp) as reserved_at,
        cast(null as timestamp) as sold_at,
        cast(null as bigint) as sold_price,
        cast(null as string) as moderation_label,
        cast(null as timestamp) as first_reported_at,
        cast(0 as bigint) as report_count
    from new_listings as n
    left join previous_snapshot as p
        on n.listing_id = p.listing_id
    where p.listing_id is null
),

updated as (
    select
        l.listing_id,
        l.seller_id,
        l.region_id,
        l.category,
        l.price,
        l.created_at,
        coalesce(l.first_chat_at, c.first_chat_at) as first_chat_at,
        coalesce(r.reserved_at, l.reserved_at) as reserved_at,
        coalesce(l.sold_at, s.sold_at) as sold_at,
        case when l.sold_at is not null then l.sold_price else s.sold_price end as sold_price,
        coalesce(d.label, l.moderation_label) as moderation_label,
        coalesce(l.first_reported_at, p.first_reported_at) as first_reported_at,
        coalesce(l.report_count, 0) + coalesce(p.report_count, 0) as report_count
    from listings as l
    left join chats_today as c
        on l.listing_id = c.listing_id
    left join reservations_today as r
        on l.listing_id = r.listing_id
    left join sales_today as s
        on l.listing_id = s.listing_id
    left join reports_today as p
        on l.listing_id = p.listing_id
    left join latest_decisions_today as d
        on l.listing_id = d.listing_id
)

select
    u.listing_id,
    u.seller_id,
    u.region_id,
    u.category,
    u.price,
    u.created_at,
    u.first_chat_at,
    u.reserved_at,
    u.sold_at,
    u.sold_price,
    u.moderation_label,
    case
        when u.sold_at is not null then 'sold'
        when u.reserved_at is not null then 'reserved'
        else 'active'
    end as status,
    u.first_reported_at,
    u.report_count,
    :ds as dt
from updated as u
