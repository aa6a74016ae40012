"""The sink under fire: SIGKILLed at random moments, its broker restarted, its object store gone for 30 s.

Each test feeds hand-made events while it breaks things, then checks that every valid event is in the
raw zone exactly once and the dead-letter topic holds exactly the malformed records.
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
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from ingestion.status import group_lag
from sluice.settings import Settings
from sluice.stack.process import wait_until
from sluice.stack.services import Kafka, ObjectStore, Service
from tests.integration.lake_readers import end_offsets, read_deadletters, read_raw

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
    env: dict[str, str], started: list[subprocess.Popen[bytes]], log: Path, home: Path
) -> subprocess.Popen[bytes]:
    """Start a sink and return once it consumes: it reports its counters right after its first poll."""
    status = home / "ingest" / "worker-0.json"
    before = status.stat().st_mtime_ns if status.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen([SLUICE, "ingest", "--worker", "0"], env=env, stdout=out, stderr=out)
    started.append(process)
    reported = wait_until(lambda: status.exists() and status.stat().st_mtime_ns != before, timeout=30, interval=0.05)
    assert reported, log.read_text()[-2000:]
    return process


def _drain_and_stop(settings: Settings, process: subprocess.Popen[bytes], log: Path) -> None:
    caught_up = wait_until(lambda: sum(group_lag(settings, TOPICS).values()) == 0, timeout=180, interval=1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert caught_up, f"the sink never caught up; its log ends:\n{log.read_text()[-3000:]}"


def _assert_exactly_once(settings: Settings, feed: Feed, dlq_start: dict) -> None:  # type: ignore[type-arg]
    raw = read_raw(settings)
    landed = Counter(raw.column("event_id").to_pylist())
    expected = Counter(f"{feed.run}-{i}" for i in range(feed.count))
    assert landed - expected == Counter(), f"doubled or foreign: {list((landed - expected).items())[:5]}"
    assert expected - landed == Counter(), f"lost: {list((expected - landed).items())[:5]}"
    letters = sorted(value for value, _ in read_deadletters(settings, dlq_start))
    assert letters == sorted(feed.malformed)


def test_twenty_sigkills_lose_and_double_nothing(
    lake: Settings, sink_env: dict[str, str], sinks: list[subprocess.Popen[bytes]], tmp_path: Path, unique: str
) -> None:
    rng = random.Random(unique)
    log = tmp_path / "sink.log"
    dlq_start = end_offsets(lake, [lake.deadletter_topic])
    with Feed(lake, unique, count=40_000, seconds=40) as feed:
        for _ in range(20):
            process = _start_sink_and_wait(sink_env, sinks, log, tmp_path)
            time.sleep(rng.uniform(0.05, 1.5))  # a random moment in its consume/flush cycle
            process.kill()
            process.wait()
    _drain_and_stop(lake, _start_sink_and_wait(sink_env, sinks, log, tmp_path), log)
    _assert_exactly_once(lake, feed, dlq_start)
    assert "replaying batch" in log.read_text(), "no kill landed between an intent and its commit"


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
    dlq_start = end_offsets(lake, [lake.deadletter_topic])
    process = _start_sink_and_wait(sink_env, sinks, log, tmp_path)
    with Feed(lake, unique, count=20_000, seconds=20) as feed:
        time.sleep(6)
        _outage(service(stack), seconds)  # the stack's own settings: the S3 identities name its lake bucket
    _drain_and_stop(lake, process, log)
    _assert_exactly_once(lake, feed, dlq_start)
    if service is ObjectStore:
        counters = json.loads((tmp_path / "ingest" / "worker-0.json").read_text())
        assert counters["s3_retries"] > 0, "the outage never reached the sink"
