-- mart_listing_supply: what is on offer per region and category at the end of the day, what came in and what
-- sold, and the 30-day sell-through. Reads only dt's snapshot of dim_listings (every listing created so far).
-- A listing a moderator labelled anything but 'normal' is taken down: it is not counted as on offer.
with

listings as (
    select
        l.listing_id,
        l.region_id,
        l.category,
        to_date(l.created_at) as created_date,
        to_date(l.sold_at) as sold_date,
        l.status,
        coalesce(l.moderation_label, 'normal') = 'normal' as is_allowed
    from dim_listings as l
    where l.dt = :ds
),

by_region_category as (
    select
        li.region_id,
        li.category,
        count(case when li.created_date = :ds then 1 end) as new_listings,
        count(case when li.status = 'active' and li.is_allowed then 1 end) as active_listings,
        count(case when li.status = 'reserved' and li.is_allowed then 1 end) as reserved_listings,
        count(case when li.sold_date = :ds then 1 end) as sold_listings,
        count(case when li.created_date = :ds and not li.is_allowed then 1 end) as new_listings_taken_down,
        count(case when li.created_date between date_sub(:ds, 29) and :ds then 1 end) as listings_created_30d,
        count(
            case when li.created_date between date_sub(:ds, 29) and :ds and li.sold_date is not null then 1 end
        ) as listings_created_30d_sold
    from listings as li
    group by li.region_id, li.category
)

select
    b.region_id,
    b.category,
    b.new_listings,
    b.new_listings_taken_down,
    b.active_listings,
    b.reserved_listings,
    b.sold_listings,
    b.listings_created_30d,
    b.listings_created_30d_sold,
    b.listings_created_30d_sold / nullif(b.listings_created_30d, 0) as sell_through_rate_30d,
    :ds as dt
from by_region_category as b
