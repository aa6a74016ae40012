"""The simulator's records through the real Kafka. The topics are the contract's, shared with other tests (and
perhaps a running pipeline), so each test reads back only the offsets it produced into and picks out its own
records by their bytes: their event ids come from the test's own seed."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from ingestion.contract import load_contract
from ingestion.simulator import ProduceSummary, Record, SimulationConfig, produce, simulate
from sluice.settings import Settings
from sluice.topics import create_pipeline_topics

CONTRACT = load_contract()


@dataclass(frozen=True)
class Arrived:
    topic: str
    partition: int
    key: bytes
    value: bytes


def _end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    try:
        partitions = [TopicPartition(t, p) for t in CONTRACT.topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def _read(settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> list[Arrived]:
    """Every record between two offset snapshots, in offset order within each partition."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    consumer.assign(list(end))
    for partition, offset in start.items():
        consumer.seek(partition, offset)
    arrived: list[Arrived] = []
    deadline = time.monotonic() + 60
    try:
        while any(consumer.position(p) < end[p] for p in end):
            assert time.monotonic() < deadline, f"read {len(arrived)} records, then nothing for a minute"
            for tp, records in consumer.poll(timeout_ms=500).items():
                arrived += [Arrived(tp.topic, tp.partition, r.key, r.value) for r in records if r.offset < end[tp]]
    finally:
        consumer.close()
    return arrived


def _produce_and_read(
    settings: Settings, records: list[Record], rate: float | None = None
) -> tuple[ProduceSummary, list[Arrived]]:
    """Produce the records; return the summary and those of them that arrived, in offset order per partition."""
    create_pipeline_topics(settings, CONTRACT.topics)
    before = _end_offsets(settings)
    summary = produce(settings, records, rate=rate)
    assert summary.sent == summary.valid + summary.duplicates + summary.malformed == len(records)
    assert summary.topics == Counter(r.topic for r in records)
    ours = {r.value for r in records}
    return summary, [a for a in _read(settings, before, _end_offsets(settings)) if a.value in ours]


def _seed(unique: str) -> int:
    return int(unique[1:], 16)


def test_produced_records_arrive_once_each_on_their_topic_keyed_and_in_order(stack: Settings, unique: str) -> None:
    config = SimulationConfig(seed=_seed(unique), duplicate_share=0.02, malformed_share=0.02, max_events=2_000)
    records = list(simulate(config))
    assert {r.kind for r in records} == {"valid", "duplicate", "malformed"}

    _, arrived = _produce_and_read(stack, records)

    assert Counter((a.topic, a.key, a.value) for a in arrived) == Counter((r.topic, r.key, r.value) for r in records)
    partitions: dict[tuple[str, bytes], set[int]] = defaultdict(set)
    for a in arrived:
        partitions[a.topic, a.key].add(a.partition)
    assert all(len(p) == 1 for p in partitions.values()), "related events (one key) must share a partition"
    assert len({a.partition for a in arrived if a.topic == "marketplace.listings"}) > 1
    # The idempotent producer keeps send order within a partition, retries and late records included.
    for topic, partition in {(a.topic, a.partition) for a in arrived}:
        sent = [r.value for r in records if r.topic == topic and partitions[topic, r.key] == {partition}]
        assert [a.value for a in arrived if (a.topic, a.partition) == (topic, partition)] == sent


def test_a_rate_paces_the_live_stream(stack: Settings, unique: str) -> None:
    records = list(simulate(SimulationConfig(seed=_seed(unique), max_events=1_000)))
    summary, arrived = _produce_and_read(stack, records, rate=1_000)
    assert summary.seconds >= 999 / 1_000  # unpaced, a thousand records take a quarter of that
    assert sorted(a.value for a in arrived) == sorted(r.value for r in records)
