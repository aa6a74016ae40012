-- fct_reports: every report users filed on the day, with the reported listing's category (null when the listing
-- was created before event collection began).
with

reports as (
    select
        reports.event_time,
        reports.report_id,
        reports.listing_id,
        reports.reporter_id,
        reports.reason
    from stg_reports as reports
    where reports.dt = :ds
),

listings as (
    select
        listings.listing_id,
        listings.category
    from dim_listings as listings
    where listings.dt = :ds
)

select
    r.report_id,
    r.listing_id,
    r.reporter_id,
    r.reason,
    r.event_time as reported_at,
    l.category,
    :ds as dt
from reports as r
left join listings as l
    on r.listing_id = l.listing_id
