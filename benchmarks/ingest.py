"""Ingestion throughput on one broker and one set of events: the Sluice sink, a bare kafka-python consume loop (the
client's own limit) and Spark Structured Streaming's Kafka source, each into Parquet on S3.

    .venv/bin/python benchmarks/ingest.py --events 1000000 [--profile]

The simulator's records are produced once, to this run's copies of the contract topics (tests running meanwhile on
the shared topics see none of them). Then, one after the other, each contender reads them from the recorded start
offsets with its own consumer group and bucket. Topics, groups and buckets are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import cProfile
import faulthandler
import json
import os
import pstats
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.record.util import crc32c_c  # None when kafka-python checks CRCs in pure Python

from ingestion.contract import Contract, load_contract
from ingestion.simulator import SimulationConfig, produce, simulate
from ingestion.sink import Counters, Sink
from sluice.objectstore import s3_client
from sluice.settings import Settings, load_settings
from sluice.spark import classic_session
from sluice.topics import commit_group_offsets, create_pipeline_topics

RUN = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
REPO = Path(__file__).resolve().parent.parent
# The settings of Sink._connect that decide how records are fetched.
FETCH: dict[str, Any] = {"max_poll_records": 20_000, "fetch_max_bytes": 64 << 20, "max_partition_fetch_bytes": 16 << 20,
                         "fetch_min_bytes": 64 << 10, "fetch_max_wait_ms": 200}  # fmt: skip
CREATED: list[str] = []  # buckets and consumer groups: one name each
Offsets = dict[TopicPartition, int]
Wrap = Callable[[Callable[[], Counters]], Counters]


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    mb: float  # raw Kafka value bytes
    cpu_s: float
    first_record_s: float | None = None  # start to first record: connecting, joining the group

    def row(self) -> dict[str, Any]:
        rates = {"events_per_s": self.events / self.seconds, "mb_per_s": self.mb / self.seconds}
        return {**asdict(self), **rates, "cpu_s_per_1m": self.cpu_s / self.events * 1e6}


def end_offsets(settings: Settings, topics: list[str]) -> Offsets:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def contender(base: Settings, name: str, starts: Offsets) -> Settings:
    """A fresh bucket, and a consumer group whose committed offsets are the start offsets."""
    settings = base.model_copy(update={"lake_bucket": f"bench-{RUN}-{name}", "ingest_group": f"bench-{RUN}-{name}"})
    s3_client(settings).create_bucket(Bucket=settings.lake_bucket)
    CREATED.append(settings.lake_bucket)
    commit_group_offsets(settings, settings.ingest_group, starts)
    return settings


def check_deadline(name: str, t0: float, timeout: float, done: int, n: int) -> None:
    if time.perf_counter() - t0 > timeout:
        faulthandler.dump_traceback(all_threads=True)
        raise TimeoutError(f"{name}: {done:,} of {n:,} events after {timeout:.0f}s (thread stacks above)")


def bare(settings: Settings, topics: list[str], n: int, timeout: float, check_crcs: bool = True) -> Result:
    t0, cpu0, first = time.perf_counter(), time.process_time(), None
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, group_id=settings.ingest_group,
                             enable_auto_commit=False, check_crcs=check_crcs, **FETCH)  # fmt: skip
    consumer.subscribe(topics)
    count = nbytes = 0
    while count < n:
        check_deadline("bare consumer", t0, timeout, count, n)
        for records in consumer.poll(timeout_ms=200).values():
            count += len(records)
            nbytes += sum(len(r.value) for r in records)
        if first is None and count:
            first = time.perf_counter() - t0
    consumer.close(autocommit=False)
    name = "bare kafka-python" + ("" if check_crcs else " (no CRC)")
    return Result(name, count, time.perf_counter() - t0, nbytes / 1e6, time.process_time() - cpu0, first)


def run_sink(settings: Settings, contract: Contract, n: int, timeout: float, wrap: Wrap | None = None) -> Result:
    t0, cpu0, first = time.perf_counter(), time.process_time(), list[float]()

    def until(c: Counters) -> bool:
        if not first and c.consumed:
            first.append(time.perf_counter() - t0)
        check_deadline("sink", t0, timeout, c.written + c.dead_lettered, n)
        return c.written + c.dead_lettered >= n

    sink = Sink(settings, contract, worker="bench")
    counters = (wrap or (lambda run: run()))(lambda: sink.run(until=until))
    done = counters.written + counters.dead_lettered
    return Result("sluice sink", done, time.perf_counter() - t0, 0.0, time.process_time() - cpu0, first[0])


def jvm_cpu_s(pid: int) -> float:
    """User + system CPU seconds of Spark's driver JVM (local mode: executors are its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spark(settings: Settings, topics: list[str], starts: Offsets) -> tuple[Result, float]:
    """The raw zone's columns (JSON fields by get_json_object: no contract validation, unlike the sink), in Parquet
    partitioned by event hour like the sink's objects."""
    t0 = time.perf_counter()
    session = classic_session(settings, "sluice-bench-ingest")
    startup, jvm = time.perf_counter() - t0, session.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    starting = {t: {str(tp.partition): o for tp, o in starts.items() if tp.topic == t} for t in topics}
    t0, cpu0 = time.perf_counter(), time.process_time() + jvm_cpu_s(jvm)
    source = {"kafka.bootstrap.servers": settings.kafka_servers, "subscribe": ",".join(topics),
              "startingOffsets": json.dumps(starting)}  # fmt: skip
    stream = session.readStream.format("kafka").options(**source).load()
    rows = stream.selectExpr(
        "CAST(value AS STRING) AS value", "key AS kafka_key", "partition AS kafka_partition",
        "offset AS kafka_offset", "timestamp AS kafka_timestamp", "current_timestamp() AS ingested_at",
    ).selectExpr(
        "get_json_object(value, '$.event_id') AS event_id", "get_json_object(value, '$.event_type') AS event_type",
        "to_timestamp(get_json_object(value, '$.event_time')) AS event_time", "*",
    ).selectExpr("*", "date_format(event_time, 'yyyy-MM-dd') AS dt", "date_format(event_time, 'HH') AS hr")  # fmt: skip
    query = (rows.writeStream.format("parquet").partitionBy("dt", "hr").option("compression", "zstd")
             .option("path", f"{settings.lake_uri}/spark/raw")
             .option("checkpointLocation", f"{settings.lake_uri}/spark/_checkpoint")
             .trigger(availableNow=True).start())  # fmt: skip
    query.awaitTermination()
    seconds, cpu = time.perf_counter() - t0, time.process_time() + jvm_cpu_s(jvm) - cpu0
    events = sum(progress["numInputRows"] for progress in query.recentProgress)
    session.stop()
    return Result("spark structured streaming", events, seconds, 0.0, cpu), startup


def callee_tree(stats: Any, func: tuple[str, int, str], total: float, seen: set[Any], depth: int = 1) -> None:
    """Cumulative wall time of what `func` calls (1% and more), descending once into each of Sluice's functions
    (pstats keeps callees per function, not per call path: a subtree counts all of that function's calls)."""
    for callee, (_, _, _, cumulative) in sorted(stats.all_callees.get(func, {}).items(), key=lambda c: -c[1][3]):
        if cumulative >= total / 100:
            label = f"{'  ' * depth}{callee[0].split('site-packages/')[-1].replace(f'{REPO}/', '')}:{callee[2]}"
            print(f"{label:72} {cumulative:7.2f}s {cumulative / total:6.1%}")
            if callee[0].startswith(f"{REPO}/ingestion/") and callee not in seen:
                seen.add(callee)
                callee_tree(stats, callee, total, seen, depth + 1)


def profile_sink(settings: Settings, contract: Contract, n: int, timeout: float) -> None:
    """A separate sink run under cProfile: its main thread, wall clock."""
    profiler, main_cpu0 = cProfile.Profile(), time.thread_time()
    result = run_sink(settings, contract, n, timeout, wrap=profiler.runcall)
    others = result.cpu_s - (time.thread_time() - main_cpu0)
    print(f"\n--profile: {result.events:,} events in {result.seconds:.1f}s; process CPU {result.cpu_s:.1f}s, "
          f"of which {others:.1f}s in threads other than the main one (kafka-python's IO, S3)")  # fmt: skip
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(10)
    stats.calc_callees()
    run = next(f for f in stats.stats if f[0].endswith("ingestion/sink.py") and f[2] == "run")  # type: ignore[attr-defined]
    print(f"Where Sink.run's {stats.stats[run][3]:.2f}s go:")  # type: ignore[attr-defined]
    callee_tree(stats, run, stats.stats[run][3], set())  # type: ignore[attr-defined]


def report(results: list[Result], startup: float | None, args: argparse.Namespace) -> None:
    rows = [r.row() for r in results]
    print(f"\n{'run':30} {'events':>10} {'seconds':>8} {'events/s':>10} {'MB/s':>7} {'CPU-s/1M':>9} {'1st rec s':>9}")
    for r in rows:
        first = f"{r['first_record_s']:9.2f}" if r["first_record_s"] else ""
        print(f"{r['name']:30} {r['events']:10,} {r['seconds']:8.2f} {r['events_per_s']:10,.0f} {r['mb_per_s']:7.1f} "
              f"{r['cpu_s_per_1m']:9.1f} {first}")  # fmt: skip
    by, pairs = {r["name"]: r for r in rows}, {"bare": "bare kafka-python", "spark": "spark structured streaming"}
    ratios = {f"sink/{short}": {key: by["sluice sink"][key] / by[name][key] for key in ("events_per_s", "cpu_s_per_1m")}
              for short, name in pairs.items() if name in by}  # fmt: skip
    for name, ratio in ratios.items():
        print(f"{name}: {ratio['events_per_s']:.2f}x the events/s, {ratio['cpu_s_per_1m']:.2f}x the CPU per event")
    if startup is not None:
        print(f"spark session start-up, not in the table: {startup:.1f}s")
    crc = "C (crc32c)" if crc32c_c else "pure Python (kafka-python finds no crc32c package)"
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    print(f"kafka-python's CRC32C: {crc}; {os.cpu_count()} CPUs; code at {git.stdout.strip()}")
    path = REPO / "benchmarks" / "results" / f"ingest-{RUN}.json"
    path.parent.mkdir(exist_ok=True)
    settings = {"crc32c": crc, "cpus": os.cpu_count(), "git": git.stdout.strip(), **vars(args)}
    path.write_text(json.dumps({"run": RUN, "settings": settings, "results": rows, "ratios": ratios,
                                "spark_startup_s": startup}, indent=2))  # fmt: skip
    print(f"written to {path}")


def cleanup(settings: Settings, topics: list[str]) -> None:
    s3 = s3_client(settings)
    for bucket in CREATED:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        admin.delete_topics(topics)
        groups = CREATED  # the sink's static member stays in its group for its session timeout (15s)
        for _ in range(15):
            groups = [g for g, outcome in admin.delete_groups(groups).items() if outcome == "NonEmptyGroupError"]
            if not groups:
                break
            time.sleep(2)
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--flush-records", type=int, default=100_000, help="the sink's ingest_flush_records")
    parser.add_argument("--flush-seconds", type=float, default=5.0, help="the sink's ingest_flush_seconds")
    parser.add_argument("--profile", action="store_true", help="then profile a separate, shorter sink run")
    parser.add_argument("--profile-events", type=int, default=200_000)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each consumer may take")
    parser.add_argument("--keep", action="store_true", help="keep this run's topics, groups and buckets")
    args = parser.parse_args()

    prefix, shared = f"bench-{RUN}.", load_contract()
    contract = replace(shared, events={k: replace(e, topic=prefix + e.topic) for k, e in shared.events.items()})
    topics = list(contract.topics)
    base = load_settings().model_copy(update={
        "home": Path(tempfile.mkdtemp(prefix="sluice-bench-")),  # the sink's status file, away from `sluice ingest`'s
        "deadletter_topic": f"{prefix}deadletter",
        "ingest_flush_records": args.flush_records,
        "ingest_flush_seconds": args.flush_seconds,
    })  # fmt: skip
    try:
        create_pipeline_topics(base, topics)
        config = SimulationConfig(users=max(2_000, args.events // 10), max_events=args.events)
        records = [replace(r, topic=prefix + r.topic) for r in simulate(config)]
        n, value_mb = len(records), sum(len(r.value) for r in records) / 1e6
        starts = end_offsets(base, topics)
        cpu0 = time.process_time()
        produced = produce(base, records)
        del records
        print(f"produced {n:,} events ({value_mb:.0f} MB of values) to {len(starts)} partitions of {prefix}*")
        results = [Result("produce (acks=all)", produced.sent, produced.seconds, value_mb, time.process_time() - cpu0)]
        results.append(bare(contender(base, "bare", starts), topics, n, args.timeout))
        results.append(bare(contender(base, "bare-nocrc", starts), topics, n, args.timeout, check_crcs=False))
        results.append(run_sink(contender(base, "sink", starts), contract, n, args.timeout))
        startup = None
        if not args.no_spark:
            result, startup = spark(contender(base, "spark", starts), topics, starts)
            results.append(result)
        for result in results[3:]:
            result.mb = value_mb * result.events / n
        report(results, startup, args)
        if args.profile:
            profile_sink(contender(base, "profile", starts), contract, min(n, args.profile_events), args.timeout)
    finally:
        if not args.keep:
            cleanup(base, [*topics, base.deadletter_topic])
            shutil.rmtree(base.home)


if __name__ == "__main__":
    main()
