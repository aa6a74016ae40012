"""Soak: sink workers under a live feed for --minutes, with faults on a schedule; then an independent count.

    .venv/bin/python benchmarks/soak.py --minutes 30 --rate 5000   # needs the local stack (`sluice up`) and nothing
                                                                    # else running: it restarts the broker

The simulator's events go to the contract topics at --rate events/s; the workers read them in a consumer group and
bucket of this run's own, starting at the topics' end. Faults: worker 1 SIGKILLed every 60-120 s and started again at
once; worker 2 joining for two minutes out of every five (and leaving with SIGTERM); the broker restarted every ten
minutes. Worker 0 is never touched: its RSS is sampled every 10 s and reported as a slope.

After the feed, faults stop, and the run reports how long the group's lag took to reach 0 after the last fault. It
then stops the workers and reads everything back itself: every partition's offsets from the start to the end must
appear exactly once, as a raw row (pyarrow) or as a committed dead letter (a read_committed consumer); every
`_COMPLETE.json` must list exactly its hour's objects with their row counts and offset ranges; and every hour of every
topic from its first event to where the completeness watermark has passed must be marked. Exits 1 if any check fails;
the figures go to benchmarks/results/soak-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from kafka import KafkaConsumer, TopicPartition

from ingestion.contract import load_contract
from ingestion.simulator import SimulationConfig, produce, simulate
from ingestion.status import group_lag
from sluice import lake
from sluice.objectstore import list_objects, s3_client
from sluice.settings import Settings, load_settings
from sluice.stack.process import wait_until
from sluice.stack.services import Kafka
from sluice.topics import commit_group_offsets, create_pipeline_topics, end_offsets

RUN = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
REPO = Path(__file__).resolve().parent.parent
SLUICE = str(Path(sys.executable).parent / "sluice")
CHUNK_EVENTS = 200_000  # events per simulated day: each chunk is a world of its own start day


@dataclass
class Workers:
    """`sluice ingest` processes of this run's group, by worker id; each logs to its own file."""

    env: dict[str, str]
    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, worker: str) -> None:
        with (self.logs / f"worker-{worker}.log").open("ab") as out:
            self.running[worker] = subprocess.Popen(
                [SLUICE, "ingest", "--worker", worker], env=self.env, stdout=out, stderr=out
            )

    def signal(self, worker: str, signum: int) -> None:
        process = self.running.pop(worker)
        process.send_signal(signum)
        if process.wait(timeout=120) not in (0, -signal.SIGKILL):
            raise SystemExit(f"worker {worker} exited with {process.returncode}; see {self.logs}")

    def rss_mib(self, worker: str) -> float:
        status = Path(f"/proc/{self.running[worker].pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


def feed(settings: Settings, rate: float, total: int, sent: list[int], errors: list[BaseException]) -> None:
    """`total` simulated events at `rate`/s, as chunks of one simulated day each (their ids never collide)."""
    try:
        days = -(-total // CHUNK_EVENTS)
        first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 1)
        for chunk in range(0, total, CHUNK_EVENTS):
            n = min(CHUNK_EVENTS, total - chunk)
            config = SimulationConfig(start=first_day + timedelta(days=chunk // CHUNK_EVENTS), users=n // 10,
                                      max_events=n)  # fmt: skip
            sent[0] += produce(settings, simulate(config), rate=rate).sent
    except BaseException as error:  # noqa: BLE001 - reported by the main thread
        errors.append(error)


def restart_broker(settings: Settings) -> None:
    broker = Kafka(settings)
    broker.process.stop(broker.stop_signal)
    time.sleep(5)
    broker.launch()
    if not wait_until(broker.healthy, timeout=broker.start_timeout):
        raise SystemExit(f"the broker did not come back:\n{broker.process.log_tail()}")


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per hour."""
    n = len(samples)
    mean_t, mean_v = sum(t for t, _ in samples) / n, sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / var if var else 0.0


@dataclass
class Lake:
    """What the raw zone holds, read with pyarrow: offsets by partition, objects, markers, event-time range."""

    offsets: dict[TopicPartition, list[int]] = field(default_factory=lambda: defaultdict(list))
    objects: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # key: rows, first and last offset
    markers: dict[str, dict[str, Any]] = field(default_factory=dict)  # by hour folder
    latest: dict[TopicPartition, datetime] = field(default_factory=dict)
    first: dict[str, datetime] = field(default_factory=dict)

    def read(self, settings: Settings) -> None:
        s3, bucket = s3_client(settings), settings.lake_bucket
        for item in list_objects(s3, bucket, f"{lake.RAW}/"):
            key = item["Key"]
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if key.endswith("/_COMPLETE.json"):
                self.markers[key.rsplit("/", 1)[0] + "/"] = json.loads(body)
                continue
            table = pq.read_table(io.BytesIO(body), columns=["kafka_partition", "kafka_offset", "event_time"])
            tp = TopicPartition(key.split("/")[1], table.column("kafka_partition")[0].as_py())
            numbers, times = table.column("kafka_offset"), table.column("event_time")
            self.offsets[tp] += numbers.to_pylist()
            self.objects[key] = (table.num_rows, pc.min(numbers).as_py(), pc.max(numbers).as_py())
            self.latest[tp] = max(self.latest.get(tp, pc.max(times).as_py()), pc.max(times).as_py())
            self.first[tp.topic] = min(self.first.get(tp.topic, pc.min(times).as_py()), pc.min(times).as_py())

    def add_dead_letters(self, settings: Settings, since: dict[TopicPartition, int]) -> int:
        """The committed dead letters after `since`, as offsets of their source partitions; returns how many."""
        until = end_offsets(settings, [settings.deadletter_topic])
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, isolation_level="read_committed")
        letters = 0
        try:
            consumer.assign(list(until))
            for tp, offset in since.items():
                consumer.seek(tp, offset)
            while any(consumer.position(tp) < end for tp, end in until.items()):
                for records in consumer.poll(timeout_ms=1000).values():
                    for record in records:
                        headers = {k: v.decode() for k, v in record.headers}
                        source = TopicPartition(headers["source_topic"], int(headers["source_partition"]))
                        self.offsets[source].append(int(headers["source_offset"]))
                        letters += 1
        finally:
            consumer.close()
        return letters

    def unmarked_hours(self, lateness: timedelta) -> list[str]:
        """Hours every partition of their topic (with events) is `lateness` past, yet without a marker."""
        unmarked = []
        for topic, since in self.first.items():
            watermark = min(at for tp, at in self.latest.items() if tp.topic == topic) - lateness
            hour = since.replace(minute=0, second=0, microsecond=0)
            while hour + timedelta(hours=1) <= watermark:
                if lake.raw_hour_prefix(topic, hour) not in self.markers:
                    unmarked.append(lake.raw_hour_prefix(topic, hour))
                hour += timedelta(hours=1)
        return unmarked

    def false_markers(self) -> list[str]:
        """Markers whose list of objects, rows and offset ranges differs from what their folder holds."""
        false = []
        for folder, marker in self.markers.items():
            listed = {o["key"]: (o["rows"], o["first_offset"], o["last_offset"]) for o in marker["objects"]}
            if listed != {key: value for key, value in self.objects.items() if key.startswith(folder)}:
                false.append(folder)
        return false


def read_back(
    settings: Settings, start: dict[TopicPartition, int], dlq_start: dict[TopicPartition, int]
) -> dict[str, Any]:
    """The independent count: each offset once per partition (raw row or dead letter), markers true, hours marked."""
    read = Lake()
    read.read(settings)
    letters = read.add_dead_letters(settings, dlq_start)
    end = end_offsets(settings, sorted({tp.topic for tp in start}))
    lost = doubled = 0
    for tp, first_offset in start.items():
        seen = Counter(read.offsets.pop(tp, []))
        expected = set(range(first_offset, end[tp]))
        lost += len(expected - seen.keys())
        doubled += sum(count - 1 for count in seen.values()) + len(seen.keys() - expected)
    unmarked = read.unmarked_hours(timedelta(minutes=settings.ingest_allowed_lateness_minutes))
    return {
        "raw_rows": sum(rows for rows, _, _ in read.objects.values()),
        "dead_letters": letters,
        "objects": len(read.objects),
        "lost": lost,
        "doubled": doubled,
        "foreign_partitions": len(read.offsets),
        "markers": len(read.markers),
        "false_markers": read.false_markers()[:10],
        "unmarked_hours": unmarked[:10],
        "unmarked_count": len(unmarked),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=5000, help="events per second from the simulator")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(60, 120), help="worker 1's SIGKILLs, s")
    parser.add_argument("--broker-every", type=float, default=600, help="broker restarts, s")
    parser.add_argument("--join-every", type=float, default=300, help="worker 2 joins for 2 min in every this, s")
    args = parser.parse_args()

    base = load_settings()
    settings = base.model_copy(update={"lake_bucket": f"soak-{RUN}", "ingest_group": f"soak-{RUN}"})
    topics = list(load_contract().topics)
    create_pipeline_topics(settings, topics)
    s3_client(settings).create_bucket(Bucket=settings.lake_bucket)
    start = end_offsets(settings, topics)
    dlq_start = end_offsets(settings, [settings.deadletter_topic])
    commit_group_offsets(settings, settings.ingest_group, start)
    home = REPO / "benchmarks" / "results" / f"soak-{RUN}"
    home.mkdir(parents=True)
    env = {**os.environ, "SLUICE_HOME": str(home), "SLUICE_LAKE_BUCKET": settings.lake_bucket,
           "SLUICE_INGEST_GROUP": settings.ingest_group}  # fmt: skip
    workers = Workers(env, home)
    rng = random.Random(RUN)

    total = int(args.rate * args.minutes * 60)
    sent: list[int] = [0]
    errors: list[BaseException] = []
    producer = threading.Thread(target=feed, args=(settings, args.rate, total, sent, errors), daemon=True)
    began = time.monotonic()
    workers.start("0")
    workers.start("1")
    producer.start()
    faults: list[tuple[float, str]] = []
    rss: list[tuple[float, float]] = []
    next_kill = began + rng.uniform(*args.kill_every)
    next_broker = began + args.broker_every
    next_join = began + args.join_every / 2
    leave_at: float | None = None
    while producer.is_alive():
        now = time.monotonic()
        if now >= next_kill:
            workers.signal("1", signal.SIGKILL)
            workers.start("1")
            faults.append((now - began, "kill worker 1"))
            next_kill = now + rng.uniform(*args.kill_every)
        if now >= next_join and leave_at is None:
            workers.start("2")
            faults.append((now - began, "worker 2 joins"))
            leave_at, next_join = now + 120, now + args.join_every
        if leave_at is not None and now >= leave_at:
            workers.signal("2", signal.SIGTERM)
            faults.append((now - began, "worker 2 leaves"))
            leave_at = None
        if now >= next_broker:
            restart_broker(settings)
            faults.append((now - began, "broker restart"))
            next_broker = time.monotonic() + args.broker_every
        if not rss or now - began - rss[-1][0] >= 10:
            rss.append((now - began, workers.rss_mib("0")))
        time.sleep(0.5)
    if errors:
        raise SystemExit(f"the feed failed: {errors[0]!r}")
    fed = time.monotonic()
    if "2" in workers.running:
        workers.signal("2", signal.SIGTERM)
        faults.append((time.monotonic() - began, "worker 2 leaves"))
    last_fault = began + faults[-1][0] if faults else began
    caught_up = wait_until(lambda: sum(group_lag(settings, topics).values()) == 0, timeout=600, interval=1)
    lag_zero_after_s = time.monotonic() - max(last_fault, fed)
    for worker in list(workers.running):
        workers.signal(worker, signal.SIGTERM)

    checks = read_back(settings, start, dlq_start)
    warm = [sample for sample in rss if sample[0] >= min(120, args.minutes * 15)]  # past start-up, first flushes
    report = {
        "run": RUN,
        "settings": vars(args),
        "events_sent": sent[0],
        "feed_events_per_s": round(sent[0] / (fed - began)),  # below --rate when the machine could not keep up
        "seconds": round(time.monotonic() - began),
        "faults": faults,
        "caught_up": caught_up,
        "lag_zero_s_after_feed_and_last_fault": round(lag_zero_after_s, 1),
        "worker0_rss_mib": {"first": warm[0][1] if warm else None, "last": warm[-1][1] if warm else None,
                            "slope_mib_per_hour": round(slope_per_hour(warm), 1) if len(warm) > 1 else None,
                            "samples": [(round(t), round(mib)) for t, mib in rss]},
        **checks,
    }  # fmt: skip
    (REPO / "benchmarks" / "results" / f"soak-{RUN}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    ok = caught_up and not (checks["lost"] or checks["doubled"] or checks["foreign_partitions"])
    ok = ok and not (checks["false_markers"] or checks["unmarked_count"])
    print("soak " + ("passed" if ok else "FAILED") + f"; worker logs in {home}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
