-- stg_searches: the day's search_performed events from raw_searches, typed, one row per event_id.
-- Producer retries re-send an event with the same event_id; the copy read first (lowest Kafka partition, then
-- offset) is kept. A field that is missing or not of its type comes out null.
with

raw_events as (
    select
        src.event_id,
        src.event_time,
        src.value,
        src.dt,
        row_number() over (
            partition by src.event_id
            order by src.kafka_partition, src.kafka_offset
        ) as copy_number
    from raw_searches as src
    where src.dt = :ds
        and src.event_type = 'search_performed'
),

deduplicated as (
    select
        e.event_id,
        e.event_time,
        e.value,
        e.dt
    from raw_events as e
    where e.copy_number = 1
)

select
    d.event_id,
    d.event_time,
    get_json_object(d.value, '$.search_id') as search_id,
    try_cast(get_json_object(d.value, '$.user_id') as bigint) as user_id,
    try_cast(get_json_object(d.value, '$.region_id') as int) as region_id,
    get_json_object(d.value, '$.query') as query,
    try_cast(get_json_object(d.value, '$.results_count') as int) as results_count,
    d.dt
from deduplicated as d
