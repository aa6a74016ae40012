-- mart_seller_performance: each seller's last 30 days (dt and the 29 days before): listings created and how many
-- of them sold, sales and GMV, how long items took to sell, and how many listings moderation flagged.
-- Reads dim_listings' and dim_users' snapshots and 30 partitions of fct_transactions.
with

listings as (
    select
        l.listing_id,
        l.seller_id,
        l.sold_at,
        l.moderation_label
    from dim_listings as l
    where l.dt = :ds
        and to_date(l.created_at) between date_sub(:ds, 29) and :ds
),

sales as (
    select
        t.seller_id,
        t.price,
        (unix_millis(t.completed_at) - unix_millis(t.listing_created_at)) / 3600000 as hours_to_sale
    from fct_transactions as t
    where t.dt between date_sub(:ds, 29) and :ds
),

users as (
    select
        u.user_id,
        u.region_id
    from dim_users as u
    where u.dt = :ds
),

listing_stats as (
    select
        li.seller_id,
        count(*) as listings_created_30d,
        count(li.sold_at) as listings_sold_30d,
        count(case when li.moderation_label <> 'normal' then 1 end) as listings_flagged_30d
    from listings as li
    group by li.seller_id
),

sale_stats as (
    select
        sa.seller_id,
        count(*) as sales_30d,
        sum(sa.price) as gmv_30d,
        percentile_approx(sa.hours_to_sale, 0.5) as median_hours_to_sale_30d
    from sales as sa
    group by sa.seller_id
),

sellers as (
    select ls.seller_id from listing_stats as ls
    union
    select ss.seller_id from sale_stats as ss
)

select
    se.seller_id,
    us.region_id as seller_region_id,
    coalesce(ls.listings_created_30d, 0) as listings_created_30d,
    coalesce(ls.listings_sold_30d, 0) as listings_sold_30d,
    ls.listings_sold_30d / nullif(ls.listings_created_30d, 0) as sell_through_rate_30d,
    coalesce(ls.listings_flagged_30d, 0) as listings_flagged_30d,
    ls.listings_flagged_30d / nullif(ls.listings_created_30d, 0) as flagged_share_30d,
    coalesce(ss.sales_30d, 0) as sales_30d,
    coalesce(ss.gmv_30d, 0) as gmv_30d,
    ss.median_hours_to_sale_30d,
    :ds as dt
from sellers as se
left join listing_stats as ls
    on se.seller_id = ls.seller_id
left join sale_stats as ss
    on se.seller_id = ss.seller_id
left join users as us
    on se.seller_id = us.user_id
