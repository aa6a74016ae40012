"""Freshness of the speed track: how long from an event's send to Kafka until the serving view counts it, at a steady
rate from the simulator's live mode, with the rest of the stack running.

    .venv/bin/python benchmarks/speed_freshness.py                        # needs `sluice up`; 1,000 events/s, 5 min
    .venv/bin/python benchmarks/speed_freshness.py --rate 200 --seconds 60

The speed track runs on a lake bucket and schema of this run (`sluice speed` with them), reading only what this run
sends. The simulator's records (its duplicates and malformed records included, late ones left out: they are beyond the
watermark and never counted) are sent at a steady rate; each listing view's send time is kept. Two readers poll
meanwhile, side by side: the newest snapshot in the lake (boto3 and pyarrow) and the serving view through the SQL
endpoint (PyHive, as Superset does). A view counted in a reading of N views means that the first N views sent are
counted (micro-batches take every partition up to its end), so each view's latency is the end of the first reading
that counts it minus its send time; readers poll every 0.25 s (tighter polling takes the job's cores: a reader
polling the lake back to back starved the job to a third of a core and 30 s batches). The first `--warmup` seconds
are sent at the same rate but left out of the figures: the JVM compiling, Python workers starting. Reported:
p50/p95/p99 for both readers and their ratio, the views sent and counted, the job's CPU (cores) and memory (RSS,
peak), and its micro-batches' mean time per phase (from Spark's progress, in the job's log). Results go to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import threading
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from kafka import KafkaProducer

from ingestion.contract import load_contract
from ingestion.simulator import SimulationConfig, simulate
from sluice import lake
from sluice.objectstore import s3_client
from sluice.settings import Settings, load_settings
from sluice.speed import family
from sluice.stack.process import group_members, memory_kib
from sluice.stack.spark import connect
from sluice.stack.speed import SpeedTrack
from sluice.stack.stack import start_speed_track
from sluice.topics import create_pipeline_topics

RESULTS = Path(__file__).parent / "results"
POLL_S = 0.25
_PHASE = re.compile(r"speed_(\w+) batch (\d+): (\d+) records; ms (.*)")


class Readings:
    """(end time, views counted) pairs of one reader, in time order."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.counts: list[int] = []

    def add(self, at: float, count: int) -> None:
        self.times.append(at)
        self.counts.append(max(count, self.counts[-1] if self.counts else 0))

    def latencies(self, sent_at: list[float]) -> list[float]:
        """For the n-th view sent, the first reading that counts n views, minus its send time (warm-up views, whose
        send time is negative, are left out)."""
        out = []
        for n, sent in enumerate(sent_at, start=1):
            i = bisect_left(self.counts, n)
            if sent > 0 and i < len(self.counts):
                out.append(self.times[i] - sent)
        return out


def poll(read: callable, readings: Readings, stop: threading.Event) -> None:  # type: ignore[valid-type]
    """Read every POLL_S: often enough to resolve latency, rarely enough not to take the job's cores."""
    while not stop.wait(POLL_S):
        try:
            count = read()
        except Exception:  # noqa: BLE001 - a reading that fails is a reading missed, not the end of the run
            continue
        readings.add(time.time(), count)


def lake_reader(settings: Settings) -> callable:  # type: ignore[valid-type]
    s3, prefix = s3_client(settings, reader=True), lake.speed_prefix("activity_hourly")

    def read() -> int:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=prefix).get("Contents", [])]
        body = s3.get_object(Bucket=settings.lake_bucket, Key=max(keys))["Body"].read()
        return sum(pq.read_table(io.BytesIO(body), columns=["listing_views"]).column(0).to_pylist())

    return read


def view_reader(settings: Settings) -> callable:  # type: ignore[valid-type]
    view = f"{settings.marts_schema}.{family('activity_hourly').view}"
    connection = connect(settings)
    cursor = connection.cursor()

    def read() -> int:
        cursor.execute(f"select coalesce(sum(listing_views), 0) from {view} where source = 'speed'")
        return int(cursor.fetchone()[0])

    return read


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100)
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values)}


def phases(log: Path, since: float) -> dict[str, float]:
    """Mean milliseconds per phase over the run's micro-batches that read records."""
    sums: dict[str, list[int]] = defaultdict(list)
    for line in log.read_text(errors="replace").splitlines():
        match = _PHASE.search(line)
        stamp = line[:19]
        if not match or int(match[3]) == 0 or not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp):
            continue
        if datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() < since - 1:
            continue
        for pair in match[4].split():
            name, ms = pair.split("=")
            sums[name].append(int(ms))
    return {name: statistics.mean(values) for name, values in sorted(sums.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds sent first and left out of the figures")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    unique = f"bench{uuid.uuid4().hex[:8]}"
    settings = load_settings(lake_bucket=unique, marts_schema=unique, speed_lookback_hours=0)
    s3_client(settings).create_bucket(Bucket=unique)
    create_pipeline_topics(settings, load_contract().topics)
    track = SpeedTrack(settings)
    track.process.stop()
    started_track = time.monotonic()
    start_speed_track(settings)
    print(f"speed track up in {time.monotonic() - started_track:.0f}s on s3://{unique}")

    total = int(args.rate * (args.warmup + args.seconds))
    warm = int(args.rate * args.warmup)
    config = SimulationConfig(seed=args.seed, start=datetime.now(UTC), days=3650, late_share=0.0, max_events=total)
    records = list(simulate(config))
    is_view = [r.kind == "valid" and b'"event_type":"listing_viewed"' in r.value for r in records]

    stop = threading.Event()
    readers = {"lake": (lake_reader(settings), Readings()), "view": (view_reader(settings), Readings())}
    threads = [threading.Thread(target=poll, args=(read, readings, stop), daemon=True)
               for read, readings in readers.values()]  # fmt: skip
    for thread in threads:
        thread.start()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=5)
    pid = track.process.pid()
    assert pid is not None
    cpu_before, began = cpu_seconds(group_members(pid)), time.time()
    sent_at: list[float] = []
    rss: list[int] = []
    for n, record in enumerate(records):
        ahead = began + n / args.rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
        producer.send(record.topic, record.value, key=record.key)
        if is_view[n]:
            sent_at.append(time.time() if n >= warm else -time.time())  # negative: warm-up, counted but not measured
        if n % int(args.rate) == 0:
            rss.append(memory_kib(group_members(pid))[0])
    producer.flush()
    sending = time.time() - began
    deadline = time.time() + 60
    while time.time() < deadline and (readers["view"][1].counts or [0])[-1] < len(sent_at):
        time.sleep(0.5)
    cpu = cpu_seconds(group_members(pid)) - cpu_before
    wall = time.time() - began
    peak = memory_kib(group_members(pid))[1]
    stop.set()
    track.process.stop()

    result = {
        "rate": args.rate, "seconds": args.seconds, "warmup": args.warmup, "records": total,
        "sent_in_s": round(sending, 1), "views_sent": len(sent_at),
        "latency_s": {name: percentiles(readings.latencies(sent_at)) for name, (_, readings) in readers.items()},
        "views_counted": {name: (readings.counts or [0])[-1] for name, (_, readings) in readers.items()},
        "readings": {name: len(readings.times) for name, (_, readings) in readers.items()},
        "job_cpu_cores": round(cpu / wall, 2),
        "job_rss_mib": {"mean": round(statistics.mean(rss) / 1024), "peak": round(peak / 1024)},
        "batch_phases_ms": phases(track.process.log_file, began + args.warmup),
        "cpus": os.cpu_count(),
    }  # fmt: skip
    lake_p, view_p = result["latency_s"]["lake"], result["latency_s"]["view"]
    print(f"{total} records at {args.rate:.0f}/s (sent in {sending:.0f}s, the first {args.warmup:.0f}s as warm-up); "
          f"{len(sent_at)} listing views")  # fmt: skip
    for name, p in (("lake snapshot", lake_p), ("serving view", view_p)):
        if p:
            print(f"  {name:<14} p50 {p['p50']:.2f}s  p95 {p['p95']:.2f}s  p99 {p['p99']:.2f}s  max {p['max']:.2f}s")
    if lake_p and view_p:
        print(f"  view/lake: p50 {view_p['p50'] / lake_p['p50']:.2f}x, p99 {view_p['p99'] / lake_p['p99']:.2f}x")
    print(f"  counted: {result['views_counted']}; readings: {result['readings']}")
    print(f"  job: {result['job_cpu_cores']} cores, RSS mean {result['job_rss_mib']['mean']} MiB, "
          f"peak {result['job_rss_mib']['peak']} MiB")  # fmt: skip
    print("  micro-batch phases (mean ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result["batch_phases_ms"].items()))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"speed-freshness-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
