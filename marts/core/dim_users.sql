-- dim_users: every user seen so far, one row per user per day. Yesterday's snapshot carried forward and updated
-- with the day's activity; the first date starts from an empty snapshot. A user is "seen" on a day when they act:
-- sign up, post a listing, view, search, open a chat as buyer, send a message, take part in a reservation or sale
-- (either side), or file a report.
with

previous_snapshot as (
    select
        users.user_id,
        users.region_id,
        users.platform,
        users.signed_up_at,
        users.first_seen_date,
        users.last_seen_date
    from dim_users as users
    where users.dt = date_sub(:ds, 1)
),

signups as (
    select
        signups.user_id,
        signups.region_id,
        signups.platform,
        signups.event_time
    from stg_users as signups
    where signups.dt = :ds
),

listings as (
    select
        listings.seller_id,
        listings.region_id,
        listings.event_time
    from stg_listings as listings
    where listings.dt = :ds
),

listing_views as (
    select
        views.user_id,
        views.region_id,
        views.event_time
    from stg_listing_views as views
    where views.dt = :ds
),

searches as (
    select
        searches.user_id,
        searches.region_id,
        searches.event_time
    from stg_searches as searches
    where searches.dt = :ds
),

chats as (
    select
        chats.buyer_id,
        chats.event_time
    from stg_chats as chats
    where chats.dt = :ds
),

messages as (
    select
        messages.sender_id,
        messages.event_time
    from stg_messages as messages
    where messages.dt = :ds
),

reservations as (
    select
        reservations.buyer_id,
        reservations.seller_id,
        reservations.event_time
    from stg_reservations as reservations
    where reservations.dt = :ds
),

transactions as (
    select
        transactions.buyer_id,
        transactions.seller_id,
        transactions.event_time
    from stg_transactions as transactions
    where transactions.dt = :ds
),

reports as (
    select
        reports.reporter_id,
        reports.event_time
    from stg_reports as reports
    where reports.dt = :ds
),

-- every action of the day by its actor; region_id where the event tells the actor's region
actions as (
    select s.user_id, s.region_id, s.event_time from signups as s
    union all
    select l.seller_id as user_id, l.region_id, l.event_time from listings as l
    union all
    select v.user_id, v.region_id, v.event_time from listing_views as v
    union all
    select q.user_id, q.region_id, q.event_time from searches as q
    union all
    select c.buyer_id as user_id, cast(null as int) as region_id, c.event_time from chats as c
    union all
    select m.sender_id as user_id, cast(null as int) as region_id, m.event_time from messages as m
    union all
    select r.buyer_id as user_id, cast(null as int) as region_id, r.event_time from reservations as r
    union all
    select r.seller_id as user_id, cast(null as int) as region_id, r.event_time from reservations as r
    union all
    select t.buyer_id as user_id, cast(null as int) as region_id, t.event_time from transactions as t
    union all
    select t.seller_id as user_id, cast(null as int) as region_id, t.event_time from transactions as t
    union all
    select p.reporter_id as user_id, cast(null as int) as region_id, p.event_time from reports as p
),

seen_today as (
    select distinct a.user_id
    from actions as a
    where a.user_id is not null
),

-- the region of each user's latest action that tells one
ranked_regions as (
    select
        a.user_id,
        a.region_id,
        row_number() over (partition by a.user_id order by a.event_time desc, a.region_id) as recency
    from actions as a
    where a.user_id is not null
        and a.region_id is not null
),

latest_regions as (
    select
        r.user_id,
        r.region_id
    from ranked_regions as r
    where r.recency = 1
),

ranked_signups as (
    select
        s.user_id,
        s.platform,
        s.event_time,
        row_number() over (partition by s.user_id order by s.event_time) as signup_number
    from signups as s
    where s.user_id is not null
),

first_signups as (
    select
        s.user_id,
        s.platform,
        s.event_time as signed_up_at
    from ranked_signups as s
    where s.signup_number = 1
),

users as (
    select
        coalesce(t.user_id, p.user_id) as user_id,
        t.user_id is not null as is_seen_today
    from seen_today as t
    full outer join previous_snapshot as p
        on t.user_id = p.user_id
)

select
    u.user_id,
    coalesce(r.region_id, p.region_id) as region_id,
    case when p.signed_up_at is not null then p.platform else s.platform end as platform,
    coalesce(p.signed_up_at, s.signed_up_at) as signed_up_at,
    coalesce(p.first_seen_date, :ds) as first_seen_date,
    case when u.is_seen_today then :ds else p.last_seen_date end as last_seen_date,
    :ds as dt
from users as u
left join previous_snapshot as p
    on u.user_id = p.user_id
left join latest_regions as r
    on u.user_id = r.user_id
left join first_signups as s
    on u.user_id = s.user_id
