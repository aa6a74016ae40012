-- mart_user_growth: daily growth accounting. Every user active today is new, retained or resurrected; every user
-- active yesterday but not today is churned. Reads two partitions of fct_user_activity and dim_users' snapshot.
with

activity as (
    select
        a.user_id,
        a.dt as active_date
    from fct_user_activity as a
    where a.dt between date_sub(:ds, 1) and :ds
),

users as (
    select
        u.user_id,
        u.first_seen_date,
        u.signed_up_at
    from dim_users as u
    where u.dt = :ds
),

active_today as (
    select distinct ac.user_id
    from activity as ac
    where ac.active_date = :ds
),

active_yesterday as (
    select distinct ac.user_id
    from activity as ac
    where ac.active_date = date_sub(:ds, 1)
),

classified as (
    select
        coalesce(t.user_id, y.user_id) as user_id,
        case
            when t.user_id is null then 'churned'
            when y.user_id is not null then 'retained'
            when coalesce(u.first_seen_date, :ds) >= :ds then 'new'
            else 'resurrected'
        end as growth_state,
        t.user_id is not null as is_active_today,
        y.user_id is not null as is_active_yesterday
    from active_today as t
    full outer join active_yesterday as y
        on t.user_id = y.user_id
    left join users as u
        on coalesce(t.user_id, y.user_id) = u.user_id
),

growth as (
    select
        count(case when c.is_active_today then 1 end) as dau,
        count(case when c.is_active_yesterday then 1 end) as prev_dau,
        count(case when c.growth_state = 'new' then 1 end) as new_users,
        count(case when c.growth_state = 'retained' then 1 end) as retained_users,
        count(case when c.growth_state = 'resurrected' then 1 end) as resurrected_users,
        count(case when c.growth_state = 'churned' then 1 end) as churned_users
    from classified as c
),

signups as (
    select count(case when to_date(u.signed_up_at) = :ds then 1 end) as signups
    from users as u
)

select
    g.dau,
    g.prev_dau,
    g.new_users,
    g.retained_users,
    g.resurrected_users,
    g.churned_users,
    s.signups,
    (g.new_users + g.resurrected_users) / nullif(g.churned_users, 0) as quick_ratio,
    g.retained_users / nullif(g.prev_dau, 0) as day_over_day_retention,
    :ds as dt
from growth as g
cross join signups as s
