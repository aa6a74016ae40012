-- mart_new_listings_hourly: listings created per UTC hour, region and category, the batch side of the serving view
-- serving_new_listings_hourly (the speed track counts the same for the hours not published yet).
with

listings as (
    select l.event_time, l.region_id, l.category, l.price
    from stg_listings as l
    where l.dt = :ds
)

select
    hour(li.event_time) as hr,
    li.region_id,
    li.category,
    count(*) as new_listings,
    sum(li.price) as listed_value,
    :ds as dt
from listings as li
group by hour(li.event_time), li.region_id, li.category
