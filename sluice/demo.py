"""`sluice demo`: events through Kafka into the lake and back out through Spark.

The pipeline as far as it exists: a producer writes JSON events to a topic, a consumer lands
exactly the new offsets as one Parquet object in the raw zone, Spark reads it back.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.stack.process import StackError
from sluice.topics import ensure_topic

TOPIC = "demo.events"
EVENT_TYPES = ("listing_created", "listing_viewed", "chat_started", "transaction_completed")


def make_events(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "event_type": rng.choice(EVENT_TYPES),
            "event_time": (start + timedelta(seconds=rng.randrange(86_400))).isoformat(),
            "user_id": rng.randrange(1, 1000),
        }
        for _ in range(count)
    ]


def produce(settings: Settings, topic: str, events: list[dict[str, object]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_servers, acks="all", enable_idempotence=True, linger_ms=20
    )
    for event in events:
        producer.send(topic, key=str(event["user_id"]).encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()


def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def consume_range(
    settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int], timeout_s: float = 60
) -> list[dict[str, object]]:
    """Every record between two offset snapshots, with its Kafka coordinates."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    consumer.assign(list(end))
    for partition, offset in start.items():
        consumer.seek(partition, offset)
    rows: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while any(consumer.position(p) < end[p] for p in end):
            if time.monotonic() > deadline:
                raise StackError(
                    f"consumed {len(rows)} records from {sorted(end)} before timing out after {timeout_s}s"
                )
            for partition, records in consumer.poll(timeout_ms=500).items():
                rows.extend(
                    {**json.loads(r.value), "_partition": partition.partition, "_offset": r.offset}
                    for r in records
                    if r.offset < end[partition]
                )
    finally:
        consumer.close()
    return rows


def land(settings: Settings, rows: list[dict[str, object]], key: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer, compression="zstd")
    s3_client(settings).put_object(Bucket=settings.lake_bucket, Key=key, Body=buffer.getvalue())


def run_demo(settings: Settings, count: int, echo: Callable[[str], None] = print) -> int:
    from sluice.spark import spark_session

    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    ensure_topic(settings, TOPIC)
    before = end_offsets(settings, TOPIC)
    events = make_events(count, seed=42)
    produce(settings, TOPIC, events)
    echo(f"produced {count} events to Kafka topic {TOPIC} at {settings.kafka_servers}")

    rows = consume_range(settings, before, end_offsets(settings, TOPIC))
    key = f"raw/{TOPIC}/run={run_id}/part-00000.parquet"
    land(settings, rows, key)
    echo(f"landed {len(rows)} events in s3://{settings.lake_bucket}/{key}")

    spark = spark_session(settings, "sluice-demo")
    frame = spark.read.parquet(f"{settings.lake_uri}/{key}")
    read_back = frame.count()
    if read_back != count:
        raise StackError(f"spark read {read_back} events back from the lake, expected {count}")
    echo(f"spark read {read_back} events back; by type:")
    for row in frame.groupBy("event_type").count().orderBy("event_type").collect():
        echo(f"  {row['event_type']:<24} {row['count']:>8}")
    echo("\nwhere to look:")
    echo(f'  S3 API   {settings.s3_url}, bucket {settings.lake_bucket} (`eval "$(sluice env)"` sets up aws and psql)')
    echo(f"  Kafka    {settings.kafka_servers}")
    echo(f"  logs     {settings.logs_dir}")
    echo("  status   sluice status")
    return read_back
