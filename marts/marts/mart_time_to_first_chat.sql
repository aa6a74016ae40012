-- mart_time_to_first_chat: how quickly listings get their first buyer message, for the listings whose first chat
-- started on dt, per category and for all categories together (category 'all'). Chats that fct_chats cannot tell
-- to be first (is_first_chat null: the listing predates event collection) are left out.
with

first_chats as (
    select
        c.listing_id,
        coalesce(c.category, 'unknown') as category,
        (unix_millis(c.started_at) - unix_millis(c.listing_created_at)) / 60000 as minutes_to_first_chat
    from fct_chats as c
    where c.dt = :ds
        and c.is_first_chat
),

by_category as (
    select
        fc.category,
        count(*) as listings_with_first_chat,
        count(fc.minutes_to_first_chat) as listings_timed,
        percentile_approx(fc.minutes_to_first_chat, 0.5) as median_minutes_to_first_chat,
        percentile_approx(fc.minutes_to_first_chat, 0.9) as p90_minutes_to_first_chat,
        count(case when fc.minutes_to_first_chat <= 60 then 1 end) as listings_within_1h
    from first_chats as fc
    group by fc.category
),

all_categories as (
    select
        'all' as category,
        count(*) as listings_with_first_chat,
        count(fc.minutes_to_first_chat) as listings_timed,
        percentile_approx(fc.minutes_to_first_chat, 0.5) as median_minutes_to_first_chat,
        percentile_approx(fc.minutes_to_first_chat, 0.9) as p90_minutes_to_first_chat,
        count(case when fc.minutes_to_first_chat <= 60 then 1 end) as listings_within_1h
    from first_chats as fc
),

combined as (
    select
        bc.category,
        bc.listings_with_first_chat,
        bc.listings_timed,
        bc.median_minutes_to_first_chat,
        bc.p90_minutes_to_first_chat,
        bc.listings_within_1h
    from by_category as bc
    union all
    select
        ac.category,
        ac.listings_with_first_chat,
        ac.listings_timed,
        ac.median_minutes_to_first_chat,
        ac.p90_minutes_to_first_chat,
        ac.listings_within_1h
    from all_categories as ac
)

select
    cb.category,
    cb.listings_with_first_chat,
    cb.median_minutes_to_first_chat,
    cb.p90_minutes_to_first_chat,
    cb.listings_within_1h / nullif(cb.listings_timed, 0) as share_within_1h,
    :ds as dt
from combined as cb
