-- fct_listing_views: every listing view of the day, with the viewer's region and the listing's region and
-- category (null when the listing was created before event collection began).
with

listing_views as (
    select
        views.event_id,
        views.event_time,
        views.listing_id,
        views.user_id,
        views.region_id,
        views.search_id
    from stg_listing_views as views
    where views.dt = :ds
),

listings as (
    select
        listings.listing_id,
        listings.region_id,
        listings.category
    from dim_listings as listings
    where listings.dt = :ds
),

users as (
    select
        users.user_id,
        users.region_id
    from dim_users as users
    where users.dt = :ds
)

select
    v.event_id,
    v.listing_id,
    v.user_id,
    coalesce(v.region_id, u.region_id) as viewer_region_id,
    l.region_id as listing_region_id,
    l.category,
    v.search_id,
    v.event_time as viewed_at,
    :ds as dt
from listing_views as v
left join listings as l
    on v.listing_id = l.listing_id
left join users as u
    on v.user_id = u.user_id
