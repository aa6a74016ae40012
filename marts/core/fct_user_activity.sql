-- fct_user_activity: one row per user who acted in the app on the day, with how much they did of each kind.
-- "Acted" is the same as dim_users' "seen", so the users here are the dim_users rows with last_seen_date = dt.
with

users as (
    select
        users.user_id,
        users.region_id
    from dim_users as users
    where users.dt = :ds
),

signups as (
    select signups.user_id
    from stg_users as signups
    where signups.dt = :ds
),

listings as (
    select listings.seller_id
    from stg_listings as listings
    where listings.dt = :ds
),

listing_views as (
    select views.user_id
    from stg_listing_views as views
    where views.dt = :ds
),

searches as (
    select searches.user_id
    from stg_searches as searches
    where searches.dt = :ds
),

chats as (
    select chats.buyer_id
    from stg_chats as chats
    where chats.dt = :ds
),

messages as (
    select messages.sender_id
    from stg_messages as messages
    where messages.dt = :ds
),

reservations as (
    select
        reservations.buyer_id,
        reservations.seller_id
    from stg_reservations as reservations
    where reservations.dt = :ds
),

transactions as (
    select
        transactions.buyer_id,
        transactions.seller_id
    from stg_transactions as transactions
    where transactions.dt = :ds
),

reports as (
    select reports.reporter_id
    from stg_reports as reports
    where reports.dt = :ds
),

-- one row per action, named by what the actor did
actions as (
    select v.user_id, 'listing_view' as action from listing_views as v
    union all
    select q.user_id, 'search' as action from searches as q
    union all
    select c.buyer_id as user_id, 'chat_started' as action from chats as c
    union all
    select m.sender_id as user_id, 'message_sent' as action from messages as m
    union all
    select l.seller_id as user_id, 'listing_created' as action from listings as l
    union all
    select t.buyer_id as user_id, 'purchase' as action from transactions as t
    union all
    select t.seller_id as user_id, 'sale' as action from transactions as t
    union all
    select s.user_id, 'signup' as action from signups as s
    union all
    select r.buyer_id as user_id, 'reservation' as action from reservations as r
    union all
    select r.seller_id as user_id, 'reservation' as action from reservations as r
    union all
    select p.reporter_id as user_id, 'report' as action from reports as p
),

activity as (
    select
        a.user_id,
        count(case when a.action = 'listing_view' then 1 end) as listing_views,
        count(case when a.action = 'search' then 1 end) as searches,
        count(case when a.action = 'chat_started' then 1 end) as chats_started,
        count(case when a.action = 'message_sent' then 1 end) as messages_sent,
        count(case when a.action = 'listing_created' then 1 end) as listings_created,
        count(case when a.action = 'purchase' then 1 end) as purchases,
        count(case when a.action = 'sale' then 1 end) as sales
    from actions as a
    where a.user_id is not null
    group by a.user_id
)

select
    a.user_id,
    u.region_id,
    a.listing_views,
    a.searches,
    a.chats_started,
    a.messages_sent,
    a.listings_created,
    a.purchases,
    a.sales,
    :ds as dt
from activity as a
left join users as u
    on a.user_id = u.user_id
