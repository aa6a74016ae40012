-- mart_retention_cohorts: weekly retention of the users first seen in each of the last 8 calendar weeks (Monday
-- to Sunday, UTC), as known at the end of dt. Each build reads dim_users' snapshot and at most 56 days of
-- fct_user_activity, so its cost does not grow with history.
with

users as (
    select
        u.user_id,
        u.first_seen_date
    from dim_users as u
    where u.dt = :ds
),

activity as (
    select
        a.user_id,
        a.dt as active_date
    from fct_user_activity as a
    where a.dt between date_sub(:ds, 55) and :ds
),

cohort_users as (
    select
        us.user_id,
        cast(date_trunc('week', us.first_seen_date) as date) as cohort_week
    from users as us
    where us.first_seen_date between date_sub(cast(date_trunc('week', :ds) as date), 49) and :ds
),

cohorts as (
    select
        cu.cohort_week,
        count(*) as cohort_size
    from cohort_users as cu
    group by cu.cohort_week
),

week_offsets as (
    select 0 as weeks_since_first_seen
    union all select 1 as weeks_since_first_seen
    union all select 2 as weeks_since_first_seen
    union all select 3 as weeks_since_first_seen
    union all select 4 as weeks_since_first_seen
    union all select 5 as weeks_since_first_seen
    union all select 6 as weeks_since_first_seen
    union all select 7 as weeks_since_first_seen
),

grid as (
    select
        co.cohort_week,
        wo.weeks_since_first_seen,
        co.cohort_size
    from cohorts as co
    cross join week_offsets as wo
    where date_add(co.cohort_week, 7 * wo.weeks_since_first_seen) <= :ds
),

cohort_activity as (
    select
        cu.cohort_week,
        cu.user_id,
        cast(floor(datediff(ac.active_date, cu.cohort_week) / 7) as int) as weeks_since_first_seen
    from cohort_users as cu
    inner join activity as ac
        on cu.user_id = ac.user_id
),

retained as (
    select
        ca.cohort_week,
        ca.weeks_since_first_seen,
        count(distinct ca.user_id) as retained_users
    from cohort_activity as ca
    group by ca.cohort_week, ca.weeks_since_first_seen
)

select
    g.cohort_week,
    g.weeks_since_first_seen,
    g.cohort_size,
    coalesce(r.retained_users, 0) as retained_users,
    coalesce(r.retained_users, 0) / nullif(g.cohort_size, 0) as retention_rate,
    date_add(g.cohort_week, 7 * g.weeks_since_first_seen + 6) <= :ds as is_complete_week,
    :ds as dt
from grid as g
left join retained as r
    on g.cohort_week = r.cohort_week
    and g.weeks_since_first_seen = r.weeks_since_first_seen
