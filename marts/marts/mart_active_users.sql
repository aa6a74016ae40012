-- mart_active_users: daily, weekly and monthly active users for the day, and how sticky the app is (DAU / MAU).
-- WAU and MAU are distinct users active in the 7 and 30 days ending on dt; a user active several of those days
-- counts once. Reads 30 partitions of fct_user_activity, whatever the length of history.
with

activity as (
    select
        a.user_id,
        a.dt as active_date
    from fct_user_activity as a
    where a.dt between date_sub(:ds, 29) and :ds
),

counts as (
    select
        count(distinct case when ac.active_date = :ds then ac.user_id end) as dau,
        count(distinct case when ac.active_date >= date_sub(:ds, 6) then ac.user_id end) as wau,
        count(distinct ac.user_id) as mau,
        count(distinct ac.active_date) as days_with_activity_data
    from activity as ac
)

select
    c.dau,
    c.wau,
    c.mau,
    c.dau / nullif(c.mau, 0) as dau_mau_stickiness,
    c.dau / nullif(c.wau, 0) as dau_wau_stickiness,
    c.days_with_activity_data,
    :ds as dt
from counts as c
