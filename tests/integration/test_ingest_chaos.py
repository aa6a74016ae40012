"""The sink under fire: SIGKILLed at random moments, workers joining and dying mid-ingest, its broker restarted, its
object store gone for 30 s.

Each test feeds hand-made events while it breaks things, then checks, reading Kafka and the raw zone itself, that
every valid event is in the raw zone exactly once, the dead-letter topic holds exactly the malformed records, each
partition's offsets are all there once (raw rows and dead letters together), and the completeness markers are true.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

from ingestion.status import committed_offsets, group_lag
from sluice import lake
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.stack.process import wait_until
from sluice.stack.services import Kafka, ObjectStore, Service
from tests.integration.lake_readers import end_offsets, raw_objects, read_deadletters

SLUICE = str(Path(sys.executable).parent / "sluice")
TOPICS = ["marketplace.listings", "marketplace.chats"]


def _valid(i: int, run: str) -> tuple[str, bytes, bytes]:
    base = {
        "event_id": f"{run}-{i}",
        "event_time": f"2026-11-0{1 + i % 2}T{i % 24:02d}:{i % 60:02d}:00+00:00",
        "schema_version": 1,
    }
    if i % 3 == 0:
        event = {
            **base,
            "event_type": "chat_started",
            "chat_id": i,
            "listing_id": i % 97,
            "buyer_id": i,
            "seller_id": i % 13,
        }
        return "marketplace.chats", str(i).encode(), json.dumps(event).encode()
    event = {**base, "event_type": "listing_viewed", "listing_id": i % 97, "user_id": i % 1000}
    return "marketplace.listings", str(i % 97).encode(), json.dumps(event).encode()


def _malformed(i: int) -> bytes:
    return b'{"event_id": "bad-%d", "event_type": "listing_viewed", "listing_id": ' % i


class Feed:
    """Produces `count` valid events and one malformed record per 1000, in paced chunks, on a thread."""

    def __init__(self, settings: Settings, run: str, count: int, seconds: float) -> None:
        self.settings, self.run, self.count, self.seconds = settings, run, count, seconds
        self.valid = [_valid(i, run) for i in range(count)]
        self.malformed = [_malformed(i) for i in range(0, count, 1000)]
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.error: BaseException | None = None

    def _send(self) -> None:
        try:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=10,
                delivery_timeout_ms=300_000,
            )
            chunks = 20
            size = self.count // chunks
            for chunk in range(chunks):
                for topic, key, value in self.valid[chunk * size : (chunk + 1) * size]:
                    producer.send(topic, key=key, value=value)
                for value in self.malformed[chunk::chunks]:
                    producer.send("marketplace.listings", value=value)
                producer.flush()
                time.sleep(self.seconds / chunks)
            producer.close()
        except BaseException as error:  # noqa: BLE001 - surfaced by the test
            self.error = error

    def __enter__(self) -> Feed:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join(timeout=600)
        assert self.error is None, f"the producer failed: {self.error!r}"


@pytest.fixture
def sink_env(lake: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SLUICE_HOME": str(tmp_path),
        "SLUICE_LAKE_BUCKET": lake.lake_bucket,
        "SLUICE_INGEST_GROUP": lake.ingest_group,
        "SLUICE_INGEST_FLUSH_SECONDS": "0.5",
        "SLUICE_INGEST_FLUSH_RECORDS": "4000",
    }


@pytest.fixture
def sinks(sink_env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start_sink_and_wait(
    env: dict[str, str], started: list[subprocess.Popen[bytes]], log: Path, home: Path, worker: str = "0"
) -> subprocess.Popen[bytes]:
    """Start a sink and return once it consumes: it reports its counters right after its first poll."""
    status = home / "ingest" / f"worker-{worker}.json"
    before = status.stat().st_mtime_ns if status.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen([SLUICE, "ingest", "--worker", worker], env=env, stdout=out, stderr=out)
    started.append(process)
    reported = wait_until(lambda: status.exists() and status.stat().st_mtime_ns != before, timeout=30, interval=0.05)
    assert reported, log.read_text()[-2000:]
    return process


def _drain_and_stop(settings: Settings, processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    caught_up = wait_until(lambda: sum(group_lag(settings, TOPICS).values()) == 0, timeout=180, interval=1)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert caught_up, f"the sink never caught up; its log ends:\n{log.read_text()[-3000:]}"


class Outcome:
    """What the test reads back itself: Kafka's offsets before and after, the raw zone's objects, the dead letters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.start = end_offsets(settings, TOPICS)
        self.dlq_start = end_offsets(settings, [settings.deadletter_topic])

    def assert_exactly_once(self, feed: Feed, marked_days: list[datetime] | None = None) -> None:
        objects = raw_objects(self.settings)
        letters = read_deadletters(self.settings, self.dlq_start)
        raw = pa.concat_tables(objects.values())
        landed = Counter(raw.column("event_id").to_pylist())
        expected = Counter(f"{feed.run}-{i}" for i in range(feed.count))
        assert landed - expected == Counter(), f"doubled or foreign: {list((landed - expected).items())[:5]}"
        assert expected - landed == Counter(), f"lost: {list((expected - landed).items())[:5]}"
        assert sorted(value for value, _ in letters) == sorted(feed.malformed)
        self._assert_offsets_once(objects, letters)
        self._assert_markers_true(objects, [datetime(2026, 11, 1, tzinfo=UTC)] if marked_days is None else marked_days)

    def _assert_offsets_once(self, objects: dict[str, pa.Table], letters: list[tuple[bytes, dict[str, str]]]) -> None:
        """Each partition's offsets from where the group started to the end, each once: a raw row or a dead letter."""
        offsets: dict[TopicPartition, list[int]] = defaultdict(list)
        for key, table in objects.items():
            topic = key.split("/")[1]
            partitions, numbers = table.column("kafka_partition").to_pylist(), table.column("kafka_offset").to_pylist()
            for partition, offset in zip(partitions, numbers, strict=True):
                offsets[TopicPartition(topic, partition)].append(offset)
        for _, headers in letters:
            tp = TopicPartition(headers["source_topic"], int(headers["source_partition"]))
            offsets[tp].append(int(headers["source_offset"]))
        end = end_offsets(self.settings, TOPICS)
        for tp, first in self.start.items():
            assert sorted(offsets.pop(tp, [])) == list(range(first, end[tp])), f"{tp}: a gap or an overlap"
        assert not offsets, f"partitions nobody produced to: {list(offsets)}"

    def _assert_markers_true(self, objects: dict[str, pa.Table], marked_days: list[datetime]) -> None:
        """Every marker lists exactly its hour's objects, with the rows and offsets read here, and every hour of
        `marked_days` is marked."""
        s3, bucket = s3_client(self.settings), self.settings.lake_bucket
        markers = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{lake.RAW}/"):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/_COMPLETE.json"):
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    markers[item["Key"].rsplit("/", 1)[0] + "/"] = json.loads(body)
        for folder, marker in markers.items():
            here = {key: table for key, table in objects.items() if key.startswith(folder)}
            listed = {o["key"]: (o["rows"], o["first_offset"], o["last_offset"]) for o in marker["objects"]}
            read = {
                key: (t.num_rows, pc.min(t.column("kafka_offset")).as_py(), pc.max(t.column("kafka_offset")).as_py())
                for key, t in here.items()
            }
            assert listed == read, f"the marker of {folder} is not true"
            assert marker["rows"] == sum(t.num_rows for t in here.values()), folder
        hours = [day + timedelta(hours=h) for day in marked_days for h in range(24)]
        folders = [lake.raw_hour_prefix(topic, hour) for topic in TOPICS for hour in hours]
        assert [folder for folder in folders if folder not in markers] == [], "hours left unmarked"


def test_twenty_sigkills_lose_and_double_nothing(
    lake: Settings, sink_env: dict[str, str], sinks: list[subprocess.Popen[bytes]], tmp_path: Path, unique: str
) -> None:
    rng = random.Random(unique)
    log = tmp_path / "sink.log"
    outcome = Outcome(lake)
    with Feed(lake, unique, count=40_000, seconds=40) as feed:
        for _ in range(20):
            process = _start_sink_and_wait(sink_env, sinks, log, tmp_path)
            time.sleep(rng.uniform(0.05, 1.5))  # a random moment in its consume/flush cycle
            process.kill()
            process.wait()
    _drain_and_stop(lake, [_start_sink_and_wait(sink_env, sinks, log, tmp_path)], log)
    outcome.assert_exactly_once(feed)
    assert "replaying batch" in log.read_text(), "no kill landed between an intent and its commit"


def _assignments(settings: Settings) -> dict[str, int]:
    """How many partitions each member of the sink's group holds, by client id, as the broker says."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        group = admin.describe_groups([settings.ingest_group])[settings.ingest_group]
    finally:
        admin.close()
    return {
        member["client_id"]: sum(len(t["partitions"]) for t in member["member_assignment"]["assigned_partitions"])
        for member in group["members"]
    }


def _holding(settings: Settings, *workers: str) -> bool:
    """Whether exactly `workers` are the group's members, each holding partitions."""
    held = _assignments(settings)
    return sorted(held) == [f"sluice-ingest-{w}" for w in workers] and all(held.values())


def test_workers_joining_and_dying_mid_ingest_lose_and_double_nothing(
    lake: Settings, sink_env: dict[str, str], sinks: list[subprocess.Popen[bytes]], tmp_path: Path, unique: str
) -> None:
    """One worker, then a second (partitions move), then the first SIGKILLed and a third started."""
    log = tmp_path / "sink.log"
    outcome = Outcome(lake)

    def holding(*workers: str) -> bool:
        return _holding(lake, *workers)

    with Feed(lake, unique, count=40_000, seconds=40) as feed:
        first = _start_sink_and_wait(sink_env, sinks, log, tmp_path, worker="0")
        time.sleep(5)
        _start_sink_and_wait(sink_env, sinks, log, tmp_path, worker="1")
        assert wait_until(lambda: holding("0", "1"), timeout=60, interval=0.5), _assignments(lake)
        time.sleep(3)
        first.kill()
        first.wait()
        _start_sink_and_wait(sink_env, sinks, log, tmp_path, worker="2")
        # The killed static member keeps its partitions until its session times out; then 1 and 2 share them all.
        assert wait_until(lambda: holding("1", "2"), timeout=90, interval=0.5), _assignments(lake)
    _drain_and_stop(lake, [p for p in sinks if p.poll() is None], log)
    outcome.assert_exactly_once(feed)


def test_a_paused_worker_resuming_after_its_partitions_moved_on_writes_nothing_of_its_own(
    lake: Settings, sink_env: dict[str, str], sinks: list[subprocess.Popen[bytes]], tmp_path: Path, unique: str
) -> None:
    """A zombie: worker 0 is SIGSTOPped with a batch in hand until its session runs out, worker 1 holds every
    partition and has committed past every record produced before the pause; then SIGCONT. Whatever worker 0 was
    doing (reading, writing objects, committing), the raw zone, the dead letters and the markers must come out as
    if it had never resumed."""
    log, zombie_log = tmp_path / "sink.log", tmp_path / "zombie.log"
    outcome = Outcome(lake)
    with Feed(lake, unique, count=40_000, seconds=60) as feed:
        zombie = _start_sink_and_wait(sink_env, sinks, zombie_log, tmp_path, worker="0")
        _start_sink_and_wait(sink_env, sinks, log, tmp_path, worker="1")
        assert wait_until(lambda: _holding(lake, "0", "1"), timeout=60, interval=0.5), _assignments(lake)
        time.sleep(2)
        zombie.send_signal(signal.SIGSTOP)
        paused_at = end_offsets(lake, TOPICS)
        assert wait_until(lambda: _holding(lake, "1"), timeout=90, interval=0.5), _assignments(lake)
        past = wait_until(
            lambda: all(
                committed_offsets(lake, TOPICS).get(tp, 0) >= end
                for tp, end in paused_at.items()
                if end > outcome.start[tp]
            ),
            timeout=90,
            interval=0.5,
        )
        zombie.send_signal(signal.SIGCONT)
        assert past, f"worker 1 never committed past the pause: {committed_offsets(lake, TOPICS)} < {paused_at}"
    _drain_and_stop(lake, [p for p in sinks if p.poll() is None], log)
    outcome.assert_exactly_once(feed)


def _outage(service: Service, seconds: float) -> None:
    service.process.stop(service.stop_signal)
    time.sleep(seconds)
    service.launch()
    assert wait_until(service.healthy, timeout=service.start_timeout), service.process.log_tail()


@pytest.mark.parametrize(
    ("service", "seconds"), [(ObjectStore, 30.0), (Kafka, 5.0)], ids=["s3-down-30s", "broker-restart"]
)
def test_an_outage_mid_ingest_loses_and_doubles_nothing(
    stack: Settings,
    lake: Settings,
    sink_env: dict[str, str],
    sinks: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    unique: str,
    service: type[Service],
    seconds: float,
) -> None:
    log = tmp_path / "sink.log"
    outcome = Outcome(lake)
    process = _start_sink_and_wait(sink_env, sinks, log, tmp_path)
    with Feed(lake, unique, count=20_000, seconds=20) as feed:
        time.sleep(6)
        _outage(service(stack), seconds)  # the stack's own settings: the S3 identities name its lake bucket
    _drain_and_stop(lake, [process], log)
    outcome.assert_exactly_once(feed)
    counters = json.loads((tmp_path / "ingest" / "worker-0.json").read_text())
    reached = counters["s3_retries"] if service is ObjectStore else counters["broker_outages"]
    assert reached > 0, f"the outage never reached the sink: {counters}"


def test_a_sigterm_mid_flush_stops_within_the_drain_time_and_the_next_worker_loses_nothing(
    lake: Settings, sink_env: dict[str, str], sinks: list[subprocess.Popen[bytes]], tmp_path: Path, unique: str
) -> None:
    """A worker holding records of a hundred hours gets SIGTERM: writing them (over a thousand objects, then the
    markers) takes far longer than its drain time, so it abandons the flush uncommitted and exits in time."""
    log = tmp_path / "sink.log"
    outcome = Outcome(lake)
    env = {**sink_env, "SLUICE_INGEST_FLUSH_SECONDS": "600", "SLUICE_INGEST_FLUSH_RECORDS": "1000000",
           "SLUICE_INGEST_DRAIN_SECONDS": "2"}  # fmt: skip
    feed = Feed(lake, unique, count=6_000, seconds=1)
    for i, (topic, key, value) in enumerate(feed.valid):  # a hundred hours: 2026-10-10 00:00 to 2026-10-14 03:00
        event = json.loads(value)
        event["event_time"] = f"2026-10-{10 + i % 100 // 24}T{i % 100 % 24:02d}:{i % 60:02d}:00+00:00"
        feed.valid[i] = (topic, key, json.dumps(event).encode())
    process = _start_sink_and_wait(env, sinks, log, tmp_path)
    with feed:
        pass
    status = tmp_path / "ingest" / "worker-0.json"
    assert wait_until(lambda: json.loads(status.read_text())["consumed"] >= 6_006, timeout=60), log.read_text()[-2000:]
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    took = time.monotonic() - stopped_at
    assert took < 2 + 5, f"SIGTERM took {took:.1f} s with a drain time of 2 s"
    assert "its uncommitted batches will replay" in log.read_text()

    _drain_and_stop(lake, [_start_sink_and_wait(sink_env, sinks, log, tmp_path)], log)
    outcome.assert_exactly_once(feed, marked_days=[datetime(2026, 10, day, tzinfo=UTC) for day in (10, 11, 12)])
