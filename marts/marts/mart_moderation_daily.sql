-- mart_moderation_daily: the day's moderation work for trust and safety: decisions by label, reports by reason,
-- the share of decisions that took a listing down, and the backlog of reported listings still waiting for a
-- decision, and how the moderation model's verdicts held up against the day's decisions. Reads 30 days of
-- fct_moderation and fct_reports (for the backlog) and of mart_listing_predictions (the model scores each listing the
-- night after it is created), and dim_listings' snapshot.
with

decisions as (
    select
        m.listing_id,
        m.label,
        m.was_reported,
        m.dt as decided_date
    from fct_moderation as m
    where m.dt between date_sub(:ds, 29) and :ds
),

reports as (
    select
        r.report_id,
        r.listing_id,
        r.reason,
        r.dt as reported_date
    from fct_reports as r
    where r.dt between date_sub(:ds, 29) and :ds
),

listings as (
    select
        l.listing_id,
        l.moderation_label
    from dim_listings as l
    where l.dt = :ds
),

predictions as (
    select
        p.listing_id,
        p.predicted_label
    from mart_listing_predictions as p
    where p.dt between date_sub(:ds, 29) and :ds
),

decision_counts as (
    select
        count(*) as decisions,
        count(case when de.label = 'normal' then 1 end) as decisions_normal,
        count(case when de.label = 'spam' then 1 end) as decisions_spam,
        count(case when de.label = 'scam' then 1 end) as decisions_scam,
        count(case when de.label = 'prohibited' then 1 end) as decisions_prohibited,
        count(case when de.label = 'abusive' then 1 end) as decisions_abusive,
        count(case when de.label <> 'normal' then 1 end) as decisions_non_normal,
        count(case when de.was_reported then 1 end) as decisions_on_reported
    from decisions as de
    where de.decided_date = :ds
),

report_counts as (
    select
        count(*) as reports,
        count(distinct re.listing_id) as reported_listings,
        count(case when re.reason = 'spam' then 1 end) as reports_spam,
        count(case when re.reason = 'fraud' then 1 end) as reports_fraud,
        count(case when re.reason = 'prohibited_item' then 1 end) as reports_prohibited_item,
        count(case when re.reason = 'abusive_language' then 1 end) as reports_abusive_language,
        count(case when re.reason = 'other' then 1 end) as reports_other
    from reports as re
    where re.reported_date = :ds
),

decided_listings as (
    select distinct de.listing_id
    from decisions as de
),

backlog as (
    select count(distinct re.listing_id) as backlog_listings
    from reports as re
    left join listings as li
        on re.listing_id = li.listing_id
    left join decided_listings as dl
        on re.listing_id = dl.listing_id
    where li.moderation_label is null
        and dl.listing_id is null
),

model_verdicts as (
    select
        count(*) as scored_decisions,
        count(case when pr.predicted_label <> 'normal' then 1 end) as model_flagged,
        count(case when pr.predicted_label <> 'normal' and pr.predicted_label = de.label then 1 end)
            as model_flagged_confirmed,
        count(case when de.label <> 'normal' then 1 end) as moderator_flagged,
        count(case when de.label <> 'normal' and pr.predicted_label = de.label then 1 end) as moderator_flagged_found
    from decisions as de
    inner join predictions as pr
        on de.listing_id = pr.listing_id
    where de.decided_date = :ds
)

select
    dc.decisions,
    dc.decisions_normal,
    dc.decisions_spam,
    dc.decisions_scam,
    dc.decisions_prohibited,
    dc.decisions_abusive,
    dc.decisions_non_normal / nullif(dc.decisions, 0) as non_normal_share,
    dc.decisions_on_reported,
    dc.decisions - dc.decisions_on_reported as decisions_proactive,
    rc.reports,
    rc.reported_listings,
    rc.reports_spam,
    rc.reports_fraud,
    rc.reports_prohibited_item,
    rc.reports_abusive_language,
    rc.reports_other,
    bl.backlog_listings,
    mv.scored_decisions,
    mv.model_flagged as model_flagged_decisions,
    mv.model_flagged_confirmed / nullif(mv.model_flagged, 0) as model_precision,
    mv.moderator_flagged_found / nullif(mv.moderator_flagged, 0) as model_recall,
    :ds as dt
from decision_counts as dc
cross join report_counts as rc
cross join backlog as bl
cross join model_verdicts as mv
