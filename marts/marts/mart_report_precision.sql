-- mart_report_precision: how often users' reports point at listings moderators then take down, per report reason,
-- over the reports of the 30 days ending on dt judged by each listing's latest decision at the end of dt; and how
-- many bad listings moderators caught in those 30 days without any report (reason 'no_report').
with

reports as (
    select
        r.report_id,
        r.listing_id,
        r.reason
    from fct_reports as r
    where r.dt between date_sub(:ds, 29) and :ds
),

decisions as (
    select
        m.listing_id,
        m.label,
        m.was_reported
    from fct_moderation as m
    where m.dt between date_sub(:ds, 29) and :ds
),

listings as (
    select
        l.listing_id,
        l.moderation_label
    from dim_listings as l
    where l.dt = :ds
),

reasons as (
    select rs.reason
    from (
        values ('spam'), ('fraud'), ('prohibited_item'), ('abusive_language'), ('other'), ('no_report')
    ) as rs (reason)
),

report_outcomes as (
    select
        re.reason,
        re.listing_id,
        li.moderation_label
    from reports as re
    left join listings as li
        on re.listing_id = li.listing_id
),

by_reason as (
    select
        ro.reason,
        count(*) as reports,
        count(distinct ro.listing_id) as reported_listings,
        count(ro.moderation_label) as decided_reports,
        count(case when ro.moderation_label <> 'normal' then 1 end) as confirmed_reports,
        count(distinct case when ro.moderation_label <> 'normal' then ro.listing_id end) as bad_listings_caught
    from report_outcomes as ro
    group by ro.reason
),

caught_without_report as (
    select
        'no_report' as reason,
        cast(0 as bigint) as reports,
        cast(0 as bigint) as reported_listings,
        cast(0 as bigint) as decided_reports,
        cast(0 as bigint) as confirmed_reports,
        count(distinct de.listing_id) as bad_listings_caught
    from decisions as de
    where de.label <> 'normal'
        and not coalesce(de.was_reported, false)
),

outcomes as (
    select
        br.reason,
        br.reports,
        br.reported_listings,
        br.decided_reports,
        br.confirmed_reports,
        br.bad_listings_caught
    from by_reason as br
    union all
    select
        cw.reason,
        cw.reports,
        cw.reported_listings,
        cw.decided_reports,
        cw.confirmed_reports,
        cw.bad_listings_caught
    from caught_without_report as cw
)

select
    coalesce(rs.reason, oc.reason) as reason,
    coalesce(oc.reports, 0) as reports,
    coalesce(oc.reported_listings, 0) as reported_listings,
    coalesce(oc.decided_reports, 0) as decided_reports,
    coalesce(oc.reports - oc.decided_reports, 0) as pending_reports,
    coalesce(oc.confirmed_reports, 0) as confirmed_reports,
    oc.confirmed_reports / nullif(oc.decided_reports, 0) as report_precision,
    coalesce(oc.bad_listings_caught, 0) as bad_listings_caught,
    :ds as dt
from reasons as rs
full outer join outcomes as oc
    on rs.reason = oc.reason
