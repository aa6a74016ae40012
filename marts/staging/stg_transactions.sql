-- stg_transactions: the day's transaction_completed events from raw_transactions, typed, one row per event_id.
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
    from raw_transactions as src
    where src.dt = :ds
        and src.event_type = 'transaction_completed'
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
    try_cast(get_json_object(d.value, '$.transaction_id') as bigint) as transaction_id,
    try_cast(get_json_object(d.value, '$.listing_id') as bigint) as listing_id,
    try_cast(get_json_object(d.value, '$.buyer_id') as bigint) as buyer_id,
    try_cast(get_json_object(d.value, '$.seller_id') as bigint) as seller_id,
    try_cast(get_json_object(d.value, '$.price') as bigint) as price,
    d.dt
from deduplicated as d
