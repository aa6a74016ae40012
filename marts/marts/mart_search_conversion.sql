-- mart_search_conversion: how often searches lead to a listing view, per day and searcher's region.
-- A search converts when at least one listing view carried its search_id on the same UTC day.
with

searches as (
    select
        s.search_id,
        s.user_id,
        coalesce(s.region_id, 0) as region_id,
        s.results_count,
        coalesce(s.views_from_search, 0) as views_from_search
    from fct_searches as s
    where s.dt = :ds
),

by_region as (
    select
        se.region_id,
        count(*) as searches,
        count(distinct se.user_id) as searchers,
        count(case when se.results_count = 0 then 1 end) as zero_result_searches,
        count(case when se.results_count > 0 then 1 end) as searches_with_results,
        count(case when se.views_from_search > 0 then 1 end) as searches_with_view,
        sum(se.views_from_search) as views_from_search
    from searches as se
    group by se.region_id
)

select
    b.region_id,
    b.searches,
    b.searchers,
    b.zero_result_searches,
    b.searches_with_results,
    b.searches_with_view,
    b.views_from_search,
    b.zero_result_searches / nullif(b.searches, 0) as zero_result_rate,
    b.searches_with_view / nullif(b.searches, 0) as search_conversion_rate,
    b.searches_with_view / nullif(b.searches_with_results, 0) as conversion_rate_with_results,
    b.views_from_search / nullif(b.searches, 0) as views_per_search,
    :ds as dt
from by_region as b
