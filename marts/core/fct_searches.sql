-- fct_searches: every search of the day, with how many listing views that day came from its results.
with

searches as (
    select
        searches.event_time,
        searches.search_id,
        searches.user_id,
        searches.region_id,
        searches.query,
        searches.results_count
    from stg_searches as searches
    where searches.dt = :ds
),

listing_views as (
    select views.search_id
    from stg_listing_views as views
    where views.dt = :ds
),

users as (
    select
        users.user_id,
        users.region_id
    from dim_users as users
    where users.dt = :ds
),

views_per_search as (
    select
        v.search_id,
        count(*) as views_from_search
    from listing_views as v
    where v.search_id is not null
    group by v.search_id
)

select
    s.search_id,
    s.user_id,
    coalesce(s.region_id, u.region_id) as region_id,
    s.query,
    s.results_count,
    s.event_time as searched_at,
    coalesce(v.views_from_search, 0) as views_from_search,
    :ds as dt
from searches as s
left join views_per_search as v
    on s.search_id = v.search_id
left join users as u
    on s.user_id = u.user_id
