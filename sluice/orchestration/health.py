"""Ingestion health: is the sink keeping up, is bad data piling up, are hours left unmarked?

`check` reads the facts from Kafka and the lake; `problems` compares them with the thresholds in settings and says,
for each one crossed, what is wrong and where to look. The hourly `sluice_ingestion_health` DAG fails (and so
alerts) when there is any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sluice.settings import Settings

WINDOW = timedelta(hours=1)  # dead letters are counted over the last hour


@dataclass(frozen=True)
class IngestionHealth:
    lag: dict[str, int]  # per topic: records the sink's consumer group has not committed
    dead_letters_last_hour: int
    overdue_hours: dict[str, list[datetime]]  # per topic: hours that should be marked complete by now, and are not


def dead_letters_since(settings: Settings, since: datetime) -> int:
    """Records the dead-letter topic received since `since` (from Kafka's time index)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, client_id="sluice-health")
    try:
        topic = settings.deadletter_topic
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        return sum(ends[tp] - (starts[tp].offset if starts.get(tp) else ends[tp]) for tp in partitions)
    finally:
        consumer.close()


def overdue_hours(settings: Settings, topics: list[str], now: datetime, grace: timedelta) -> dict[str, list[datetime]]:
    """Hours of today and yesterday that ended more than `grace` ago and still have no completeness marker."""
    from ingestion.completeness import missing_hours
    from sluice.objectstore import s3_client

    s3, cutoff = s3_client(settings), now - grace
    overdue: dict[str, list[datetime]] = {}
    for topic in topics:
        for day in sorted({(now - timedelta(days=1)).date(), now.date()}):
            start = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
            late = [start + timedelta(hours=h) for h in missing_hours(s3, settings.lake_bucket, topic, day)]
            late = [hour for hour in late if hour + timedelta(hours=1) <= cutoff]
            if late:
                overdue.setdefault(topic, []).extend(late)
    return overdue


def check(settings: Settings, topics: list[str], now: datetime) -> IngestionHealth:
    from ingestion.status import group_lag

    return IngestionHealth(
        lag=group_lag(settings, topics),
        dead_letters_last_hour=dead_letters_since(settings, now - WINDOW),
        overdue_hours=overdue_hours(settings, topics, now, timedelta(hours=settings.health_max_marker_delay_hours)),
    )


def problems(health: IngestionHealth, settings: Settings) -> list[str]:
    found = [
        f"consumer lag on {topic} is {lag:,} records (limit {settings.health_max_lag:,}): is `sluice ingest` running "
        "and keeping up? `sluice ingest --status`"
        for topic, lag in sorted(health.lag.items())
        if lag > settings.health_max_lag
    ]
    if health.dead_letters_last_hour > settings.health_max_dead_letters_per_hour:
        found.append(
            f"{health.dead_letters_last_hour:,} records went to {settings.deadletter_topic} in the last hour (limit "
            f"{settings.health_max_dead_letters_per_hour:,}): a producer is breaking the contract; each dead letter "
            "names the field and the rule"
        )
    for topic, hours in sorted(health.overdue_hours.items()):
        listed = ", ".join(f"{hour:%Y-%m-%d %H}h" for hour in hours[:6]) + (" …" if len(hours) > 6 else "")
        found.append(
            f"{topic}: {len(hours)} hour(s) still not marked complete over {settings.health_max_marker_delay_hours} h "
            f"after they ended ({listed}); marts of those days wait for them"
        )
    return found
