-- mart_activity_hourly: the day's activity per UTC hour, the batch side of the serving view serving_activity_hourly.
-- The speed track (spark_jobs/speed_track.py) counts the same things the same way for the hours not published yet,
-- so a published day replaces its speed rows without a jump: active users are the users who did any of the actions
-- fct_user_activity counts, each event counted once by its event_id (staging keeps one copy).
with

listings as (
    select l.event_time, l.seller_id
    from stg_listings as l
    where l.dt = :ds
),

listing_views as (
    select v.event_time, v.user_id
    from stg_listing_views as v
    where v.dt = :ds
),

searches as (
    select s.event_time, s.user_id
    from stg_searches as s
    where s.dt = :ds
),

chats as (
    select c.event_time, c.buyer_id
    from stg_chats as c
    where c.dt = :ds
),

messages as (
    select m.event_time, m.sender_id
    from stg_messages as m
    where m.dt = :ds
),

reservations as (
    select r.event_time, r.buyer_id, r.seller_id
    from stg_reservations as r
    where r.dt = :ds
),

transactions as (
    select t.event_time, t.buyer_id, t.seller_id, t.price
    from stg_transactions as t
    where t.dt = :ds
),

signups as (
    select u.event_time, u.user_id
    from stg_users as u
    where u.dt = :ds
),

reports as (
    select p.event_time, p.reporter_id
    from stg_reports as p
    where p.dt = :ds
),

-- one row per event: its kind, its actor (and a second actor for two-sided events) and the sale amount
events as (
    select li.event_time, 'listing' as kind, li.seller_id as actor_id, cast(null as bigint) as other_actor_id,
        cast(null as bigint) as amount
    from listings as li
    union all
    select lv.event_time, 'view' as kind, lv.user_id as actor_id, null as other_actor_id, null as amount
    from listing_views as lv
    union all
    select se.event_time, 'search' as kind, se.user_id as actor_id, null as other_actor_id, null as amount
    from searches as se
    union all
    select ch.event_time, 'chat' as kind, ch.buyer_id as actor_id, null as other_actor_id, null as amount
    from chats as ch
    union all
    select me.event_time, 'message' as kind, me.sender_id as actor_id, null as other_actor_id, null as amount
    from messages as me
    union all
    select re.event_time, 'reservation' as kind, re.buyer_id as actor_id, re.seller_id as other_actor_id,
        null as amount
    from reservations as re
    union all
    select tr.event_time, 'transaction' as kind, tr.buyer_id as actor_id, tr.seller_id as other_actor_id,
        tr.price as amount
    from transactions as tr
    union all
    select su.event_time, 'signup' as kind, su.user_id as actor_id, null as other_actor_id, null as amount
    from signups as su
    union all
    select rp.event_time, 'report' as kind, rp.reporter_id as actor_id, null as other_actor_id, null as amount
    from reports as rp
),

actors as (
    select hour(ev.event_time) as hr, ev.actor_id as user_id
    from events as ev
    union all
    select hour(ev.event_time) as hr, ev.other_actor_id as user_id
    from events as ev
),

active as (
    select ac.hr, count(distinct ac.user_id) as active_users
    from actors as ac
    group by ac.hr
),

counts as (
    select
        hour(ev.event_time) as hr,
        count(case when ev.kind = 'listing' then 1 end) as new_listings,
        count(case when ev.kind = 'view' then 1 end) as listing_views,
        count(case when ev.kind = 'search' then 1 end) as searches,
        count(case when ev.kind = 'chat' then 1 end) as chats_started,
        count(case when ev.kind = 'message' then 1 end) as messages_sent,
        count(case when ev.kind = 'transaction' then 1 end) as transactions,
        coalesce(sum(ev.amount), 0) as gmv,
        count(case when ev.kind = 'report' then 1 end) as reports
    from events as ev
    group by hour(ev.event_time)
)

select
    co.hr,
    coalesce(ac.active_users, 0) as active_users,
    co.new_listings,
    co.listing_views,
    co.searches,
    co.chats_started,
    co.messages_sent,
    co.transactions,
    co.gmv,
    co.reports,
    :ds as dt
from counts as co
left join active as ac
    on co.hr = ac.hr
