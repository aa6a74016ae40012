-- mart_moderation_training: the moderation model's training set as of :ds. Every listing created in the 90 days
-- ending on :ds, with its text and the label of its latest moderation decision by the end of :ds (null: not yet
-- moderated, text for pre-training only). The split is by creation date: listings created on :ds are held out
-- for evaluation, older ones train, so no listing is on both sides and the model is judged on days it never saw.
with

listings as (
    select
        l.listing_id,
        l.event_time,
        l.title,
        l.body,
        l.price,
        l.category,
        l.lang,
        l.dt
    from stg_listings as l
    where l.dt between date_sub(:ds, 89) and :ds
),

labels as (
    select
        d.listing_id,
        d.moderation_label
    from dim_listings as d
    where d.dt = :ds
)

select
    l.listing_id,
    l.event_time as created_at,
    l.title,
    l.body,
    l.price,
    l.category,
    l.lang,
    lb.moderation_label as label,
    case when l.dt = :ds then 'holdout' else 'train' end as split,
    :ds as dt
from listings as l
left join labels as lb
    on l.listing_id = lb.listing_id
