"""What `sluice ingest --status` reports: each worker's counters and the group's lag from Kafka."""

from __future__ import annotations

import json
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from sluice.settings import Settings
from sluice.topics import partitions_of


def worker_counters(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((settings.home / "ingest").glob("worker-*.json"))]


def committed_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The sink's consumer group's committed offset per partition of the topics (0 where it committed none)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id="sluice-status")
    try:
        committed = admin.list_group_offsets(settings.ingest_group).get(settings.ingest_group, {})
    finally:
        admin.close()
    return {tp: max(done.offset, 0) for tp, done in committed.items() if tp.topic in topics}


def group_lag(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Per topic: records not yet committed by the sink's consumer group."""
    committed = committed_offsets(settings, topics)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, client_id="sluice-status")
    try:
        partitions = partitions_of(consumer, topics)
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    lag: dict[str, int] = {topic: 0 for topic in topics}
    for tp, end in ends.items():
        lag[tp.topic] += end - committed.get(tp, 0)
    return lag


def topic_size(settings: Settings, topic: str) -> int:
    """Records in a topic (end minus beginning offsets), e.g. the dead-letter topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, client_id="sluice-status")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
        return sum(end[tp] - begin[tp] for tp in partitions)
    finally:
        consumer.close()
