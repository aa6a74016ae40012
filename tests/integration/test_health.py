"""Ingestion health figures read from the real Kafka broker and S3 server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kafka import KafkaProducer

from sluice.objectstore import s3_client
from sluice.orchestration.health import check
from sluice.settings import Settings
from sluice.topics import ensure_topic

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def _send(settings: Settings, topic: str, count: int, at: datetime) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    for n in range(count):
        producer.send(topic, f"record {n}".encode(), timestamp_ms=int(at.timestamp() * 1000))
    producer.flush()
    producer.close()


def test_lag_dead_letters_of_the_last_hour_and_overdue_hours(stack: Settings, unique: str) -> None:
    settings = stack.model_copy(
        update={"ingest_group": unique, "deadletter_topic": f"{unique}.deadletter", "lake_bucket": unique}
    )
    topic = f"{unique}.events"
    ensure_topic(settings, topic, partitions=2)
    ensure_topic(settings, settings.deadletter_topic, partitions=2)
    s3_client(settings).create_bucket(Bucket=unique)
    _send(settings, topic, 7, NOW)  # nothing committed by the group: all 7 are lag
    _send(settings, settings.deadletter_topic, 2, NOW - timedelta(hours=2))  # before the hour: not counted
    _send(settings, settings.deadletter_topic, 3, NOW - timedelta(minutes=20))

    health = check(settings, [topic], NOW)

    assert health.lag == {topic: 7}
    assert health.dead_letters_last_hour == 3
    # An empty lake: all of yesterday, and today's hours that ended 3 h before 10:30 (00h to 06h), are overdue.
    overdue = health.overdue_hours[topic]
    assert len(overdue) == 24 + 7
    assert (overdue[0], overdue[-1]) == (datetime(2026, 11, 19, 0, tzinfo=UTC), datetime(2026, 11, 20, 6, tzinfo=UTC))
