-- mart_gmv_daily: gross merchandise value and transactions per day, listing region and category, with how far
-- final prices came in under asking prices. Region 0 and category 'unknown' hold sales of listings created
-- before the platform's event history (their attributes are unknown).
with

transactions as (
    select
        t.transaction_id,
        t.buyer_id,
        t.seller_id,
        t.price,
        t.listed_price,
        coalesce(t.region_id, 0) as region_id,
        coalesce(t.category, 'unknown') as category
    from fct_transactions as t
    where t.dt = :ds
),

by_region_category as (
    select
        tr.region_id,
        tr.category,
        count(*) as transactions,
        count(distinct tr.buyer_id) as buyers,
        count(distinct tr.seller_id) as sellers,
        sum(tr.price) as gmv,
        avg(tr.price) as avg_price,
        count(case when tr.price = 0 then 1 end) as free_transactions,
        sum(tr.listed_price) as listed_value,
        sum(tr.listed_price - tr.price) as discount_amount,
        count(case when tr.price < tr.listed_price then 1 end) as discounted_transactions
    from transactions as tr
    group by tr.region_id, tr.category
)

select
    b.region_id,
    b.category,
    b.transactions,
    b.buyers,
    b.sellers,
    b.gmv,
    b.avg_price,
    b.free_transactions,
    b.discounted_transactions,
    b.listed_value,
    b.discount_amount,
    b.discount_amount / nullif(b.listed_value, 0) as discount_rate,
    :ds as dt
from by_region_category as b
