-- fct_moderation: every moderation decision of the day, with the listing's category and whether users had
-- reported the listing on or before that day.
with

moderation_decisions as (
    select
        decisions.event_time,
        decisions.listing_id,
        decisions.label,
        decisions.moderator_id
    from stg_moderation_decisions as decisions
    where decisions.dt = :ds
),

reports as (
    select reports.listing_id
    from stg_reports as reports
    where reports.dt = :ds
),

listings as (
    select
        listings.listing_id,
        listings.category,
        listings.first_reported_at
    from dim_listings as listings
    where listings.dt = :ds
),

reported_today as (
    select distinct r.listing_id
    from reports as r
)

select
    d.listing_id,
    d.label,
    d.moderator_id,
    d.event_time as decided_at,
    l.category,
    case
        when l.first_reported_at is not null then true  -- dim_listings counts reports up to the end of the day
        when r.listing_id is not null then true  -- reported today, listing created before event collection
        when l.listing_id is null then null  -- listing created before event collection: earlier reports unknown
        else false
    end as was_reported,
    :ds as dt
from moderation_decisions as d
left join listings as l
    on d.listing_id = l.listing_id
left join reported_today as r
    on d.listing_id = r.listing_id
