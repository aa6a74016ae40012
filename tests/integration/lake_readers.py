"""Reading back what the ingestion sink wrote (raw-zone rows from S3, dead letters from Kafka), and bad raw rows."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from kafka import KafkaConsumer, TopicPartition

from sluice import lake
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.topics import commit_group_offsets, end_offsets


def commit_group_at_end(settings: Settings, topics: list[str]) -> None:
    """Make the sink's group start after everything other tests left on the shared topics."""
    commit_group_offsets(settings, settings.ingest_group, end_offsets(settings, topics))


def raw_objects(settings: Settings) -> dict[str, pa.Table]:
    """Every raw-zone object in the test's bucket, read with pyarrow, by key."""
    s3 = s3_client(settings)
    tables = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=f"{lake.RAW}/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=settings.lake_bucket, Key=item["Key"])["Body"].read()
                tables[item["Key"]] = pq.read_table(io.BytesIO(body))
    return tables


def read_raw(settings: Settings) -> pa.Table:
    """Every raw-zone row in the test's bucket."""
    tables = list(raw_objects(settings).values())
    return pa.concat_tables(tables) if tables else pa.table({"event_id": pa.array([], pa.string())})


def read_deadletters(settings: Settings, since: dict[TopicPartition, int]) -> list[tuple[bytes, dict[str, str]]]:
    """Committed dead letters after the `since` offsets: (original value, headers)."""
    until = end_offsets(settings, [settings.deadletter_topic])
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers, isolation_level="read_committed", enable_auto_commit=False
    )
    letters = []
    try:
        consumer.assign(list(until))
        for tp in until:
            consumer.seek(tp, since.get(tp, 0))
        while any(consumer.position(tp) < until[tp] for tp in until):
            for records in consumer.poll(timeout_ms=1000).values():
                letters += [(r.value, {k: v.decode() for k, v in r.headers}) for r in records]
    finally:
        consumer.close()
    return letters


def bad_listings(day: date) -> pa.Table:
    """Two listings a buggy producer could send if the contract's checks were ever bypassed."""
    moment = datetime(day.year, day.month, day.day, 5, 30, tzinfo=UTC)
    values = [
        {"listing_id": None, "seller_id": 1, "region_id": 1, "category": "books", "title": "x", "price": 1000},
        {"listing_id": 987654321, "seller_id": 1, "region_id": 1, "category": "books", "title": "y", "price": -5},
    ]
    ids = ["bad-null-key", "bad-negative-price"]
    columns = {
        "event_id": ids,
        "event_type": ["listing_created"] * 2,
        "event_time": [moment] * 2,
        "value": [json.dumps({"event_id": i, **v}) for i, v in zip(ids, values, strict=True)],
        "kafka_key": [b"k"] * 2,
        "kafka_partition": [99] * 2,
        "kafka_offset": [0, 1],
        "kafka_timestamp": [moment] * 2,
        "ingested_at": [moment] * 2,
    }
    return pa.table(columns, schema=lake.raw_schema())
