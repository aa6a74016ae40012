"""Kafka topic administration: the contract's topics and the dead-letter topic, from settings."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from sluice.settings import Settings


def ensure_topic(settings: Settings, topic: str, partitions: int = 3, retention_hours: int | None = None) -> bool:
    """Create the topic if it does not exist; True if it was created."""
    return topic in ensure_topics(settings, [topic], partitions, retention_hours)


def ensure_topics(
    settings: Settings, topics: Iterable[str], partitions: int, retention_hours: int | None = None
) -> list[str]:
    """Create those of `topics` that do not exist yet; returns the ones created."""
    configs = {"retention.ms": str(retention_hours * 3_600_000)} if retention_hours else {}
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id="sluice-admin")
    created = []
    try:
        for topic in topics:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return created


def create_pipeline_topics(settings: Settings, topics: Iterable[str]) -> list[str]:
    """The event topics and the dead-letter topic, sized and retained as settings say."""
    return ensure_topics(
        settings, [*topics, settings.deadletter_topic], settings.topic_partitions, settings.topic_retention_hours
    )


def commit_group_offsets(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Set where a consumer group starts reading (the group must have no active members)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign(list(offsets))
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})
    finally:
        consumer.close()


def partitions_of(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of the topics, in order (none for a topic that does not exist)."""
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Each partition's end as a read_committed consumer sees it (open transactions' records not yet counted)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, isolation_level="read_committed")
    try:
        partitions = partitions_of(consumer, topics)
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def offsets_since(settings: Settings, topics: Iterable[str], since_ms: int) -> dict[str, dict[str, int]]:
    """Each partition's first offset with a timestamp at or after `since_ms`, or its end if none is that recent, as
    Spark's `startingOffsets` JSON wants it. The ends are read first: a record arriving between the two reads is then
    found by the timestamp lookup or lies past the end read, never skipped (Spark's own timestamp start leaves such
    partitions at a "latest" it resolves only when the first micro-batch is planned, and skips what came meanwhile)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, client_id="sluice-offsets")
    try:
        partitions = partitions_of(consumer, topics)
        ends = consumer.end_offsets(partitions)
        found = consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
    finally:
        consumer.close()
    offsets: dict[str, dict[str, int]] = {}
    for tp in partitions:
        at = found.get(tp)
        offsets.setdefault(tp.topic, {})[str(tp.partition)] = at.offset if at is not None else ends[tp]
    return offsets
