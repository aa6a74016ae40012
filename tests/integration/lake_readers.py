"""Reading back what the ingestion sink wrote: raw-zone rows from S3, dead letters from Kafka."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from kafka import KafkaConsumer, TopicPartition

from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.topics import commit_group_offsets


def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def commit_group_at_end(settings: Settings, topics: list[str]) -> None:
    """Make the sink's group start after everything other tests left on the shared topics."""
    commit_group_offsets(settings, settings.ingest_group, end_offsets(settings, topics))


def read_raw(settings: Settings) -> pa.Table:
    """Every raw-zone row in the test's bucket."""
    s3 = s3_client(settings)
    tables = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix="raw/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".parquet"):
                continue
            body = s3.get_object(Bucket=settings.lake_bucket, Key=item["Key"])["Body"].read()
            tables.append(pq.read_table(io.BytesIO(body)))
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
