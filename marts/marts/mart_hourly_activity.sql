-- mart_hourly_activity: the day's activity by hour of the day in Seoul (KST), where the app's users live.
-- A UTC day runs from 09:00 KST to 08:59 KST the next morning, so the hours 0 to 8 belong to the next Seoul date.
-- Seoul is UTC+9 all year (no daylight saving), so the hour is taken from the UTC time plus 9 hours: the same
-- value as hour(from_utc_timestamp(t, 'Asia/Seoul')) on Spark, and, unlike that function, it transpiles to DuckDB
-- correctly (sqlglot turns from_utc_timestamp on a column into a conversion in the wrong direction).
with

views as (
    select v.viewed_at as event_at
    from fct_listing_views as v
    where v.dt = :ds
),

searches as (
    select s.searched_at as event_at
    from fct_searches as s
    where s.dt = :ds
),

chats as (
    select c.started_at as event_at
    from fct_chats as c
    where c.dt = :ds
),

messages as (
    select m.event_time as event_at
    from stg_messages as m
    where m.dt = :ds
),

listings as (
    select l.event_time as event_at
    from stg_listings as l
    where l.dt = :ds
),

transactions as (
    select t.completed_at as event_at
    from fct_transactions as t
    where t.dt = :ds
),

hours as (
    select h.hour_kst
    from (
        values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11),
            (12), (13), (14), (15), (16), (17), (18), (19), (20), (21), (22), (23)
    ) as h (hour_kst)
),

events as (
    select 'view' as kind, vw.event_at from views as vw
    union all
    select 'search' as kind, se.event_at from searches as se
    union all
    select 'chat' as kind, ch.event_at from chats as ch
    union all
    select 'message' as kind, me.event_at from messages as me
    union all
    select 'listing' as kind, li.event_at from listings as li
    union all
    select 'transaction' as kind, tr.event_at from transactions as tr
),

by_hour as (
    select
        hour(ev.event_at + interval 9 hours) as hour_kst,
        count(case when ev.kind = 'view' then 1 end) as listing_views,
        count(case when ev.kind = 'search' then 1 end) as searches,
        count(case when ev.kind = 'chat' then 1 end) as chats_started,
        count(case when ev.kind = 'message' then 1 end) as messages_sent,
        count(case when ev.kind = 'listing' then 1 end) as listings_created,
        count(case when ev.kind = 'transaction' then 1 end) as transactions
    from events as ev
    group by hour(ev.event_at + interval 9 hours)
)

select
    hr.hour_kst,
    case when hr.hour_kst >= 9 then :ds else cast(date_add(:ds, 1) as date) end as kst_date,
    coalesce(bh.listing_views, 0) as listing_views,
    coalesce(bh.searches, 0) as searches,
    coalesce(bh.chats_started, 0) as chats_started,
    coalesce(bh.messages_sent, 0) as messages_sent,
    coalesce(bh.listings_created, 0) as listings_created,
    coalesce(bh.transactions, 0) as transactions,
    :ds as dt
from hours as hr
left join by_hour as bh
    on hr.hour_kst = bh.hour_kst
