-- mart_marketplace_kpis: the executive daily scorecard, one row per day, built only from other marts so every
-- figure matches the detailed mart it comes from. Each import is reduced to one row, so the scorecard has its
-- row even on a day an upstream mart is empty (its figures are then 0 or null).
with

active_users as (
    select
        max(au.dau) as dau,
        max(au.wau) as wau,
        max(au.mau) as mau,
        max(au.dau_mau_stickiness) as dau_mau_stickiness
    from mart_active_users as au
    where au.dt = :ds
),

user_growth as (
    select
        max(ug.new_users) as new_users,
        max(ug.signups) as signups,
        max(ug.quick_ratio) as quick_ratio
    from mart_user_growth as ug
    where ug.dt = :ds
),

sales as (
    select
        coalesce(sum(g.gmv), 0) as gmv,
        coalesce(sum(g.transactions), 0) as transactions
    from mart_gmv_daily as g
    where g.dt = :ds
),

activity as (
    select
        coalesce(sum(rc.views), 0) as listing_views,
        coalesce(sum(rc.chats), 0) as chats_started,
        coalesce(sum(rc.new_listings), 0) as new_listings
    from mart_region_category_activity as rc
    where rc.dt = :ds
),

search_stats as (
    select
        coalesce(sum(sc.searches), 0) as searches,
        coalesce(sum(sc.searches_with_view), 0) as searches_with_view,
        coalesce(sum(sc.zero_result_searches), 0) as zero_result_searches
    from mart_search_conversion as sc
    where sc.dt = :ds
),

first_chats as (
    select max(fc.median_minutes_to_first_chat) as median_minutes_to_first_chat
    from mart_time_to_first_chat as fc
    where fc.dt = :ds
        and fc.category = 'all'
),

moderation as (
    select
        max(md.decisions) as moderation_decisions,
        max(md.non_normal_share) as moderation_non_normal_share,
        max(md.reports) as reports,
        max(md.backlog_listings) as moderation_backlog_listings
    from mart_moderation_daily as md
    where md.dt = :ds
)

select
    au.dau,
    au.wau,
    au.mau,
    au.dau_mau_stickiness,
    ug.new_users,
    ug.signups,
    ug.quick_ratio,
    sa.gmv,
    sa.transactions,
    sa.gmv / nullif(sa.transactions, 0) as avg_transaction_price,
    ac.new_listings,
    ac.listing_views,
    ac.chats_started,
    sa.transactions / nullif(ac.chats_started, 0) as chat_to_transaction_rate,
    se.searches,
    se.searches_with_view / nullif(se.searches, 0) as search_conversion_rate,
    se.zero_result_searches / nullif(se.searches, 0) as zero_result_rate,
    fc.median_minutes_to_first_chat,
    mo.moderation_decisions,
    mo.moderation_non_normal_share,
    mo.reports,
    mo.moderation_backlog_listings,
    :ds as dt
from active_users as au
cross join user_growth as ug
cross join sales as sa
cross join activity as ac
cross join search_stats as se
cross join first_chats as fc
cross join moderation as mo
