"""Every mart rebuilt from raw data, on Spark and on DuckDB from the same SQL over the same Parquet files, and on the
Sluice builder (Spark plus staging, quality gate and publish on S3).

    .venv/bin/python benchmarks/marts.py                          # 30 days, 25,000 users (10M+ events); hours
    .venv/bin/python benchmarks/marts.py --days 2 --users 500     # quick
    .venv/bin/python benchmarks/marts.py --days 3 --users 5000 --tune   # Spark settings side by side

The simulator's days (one more than --days, for the last incremental refresh) are written once, straight into the
raw zone of bucket bench-marts-<users>u-<days>d the way the ingestion sink lays them out (no Kafka: that path is
benchmarked by ingest.py), with completeness markers, and mirrored to .sluice/bench/<bucket>/ because DuckDB cannot
read this S3 (its httpfs extension is downloaded from the internet). Both are reused by later runs.

Then, date by date in order, every engine builds all models of the date before the next date starts (interleaved,
so the machine's load weighs on all engines alike). The full rebuild of N days is the sum of dates 1..N from an empty
lake; the incremental refresh after N days is date N+1, built once N days of history exist.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.contract import Contract, load_contract
from ingestion.raw_zone import RecordBatch, decode, split_by_hour, to_parquet
from ingestion.simulator import SimulationConfig, simulate
from sluice import lake
from sluice.marts import quality
from sluice.marts.build import Builder
from sluice.marts.project import Model, Project, load_project
from sluice.objectstore import S3Client, s3_client
from sluice.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RUN = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
REPO = Path(__file__).resolve().parent.parent
BENCH_HOME = REPO / ".sluice" / "bench"
START = date(2026, 10, 1)  # a Thursday; day 1 of every data set
MANIFEST = "bench/manifest.json"
DUCK_TYPES = {"bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN",
              "date": "DATE", "timestamp": "TIMESTAMPTZ", "binary": "BLOB"}  # fmt: skip
# The settings sluice.spark gives every session today, and what --tune found best on this machine (see README).
TUNED: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.files.openCostInBytes": "1048576",
    "spark.sql.codegen.wholeStage": "false",  # compiling each query's code costs more than it saves on a day's rows
}
TUNED_THREADS = 2  # models of one date built side by side, each once its upstream models are done


# --- the data set -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    users: int
    days: int
    seed: int = 7
    partitions: int = 6  # Kafka partitions per topic, as settings.topic_partitions
    flush_records: int = 50_000  # records per sink batch (a backfill's flushes; live 30 s flushes are far smaller)

    @property
    def name(self) -> str:
        return f"bench-marts-{self.users}u-{self.days}d"

    @property
    def local(self) -> Path:
        return BENCH_HOME / self.name

    @property
    def dates(self) -> list[date]:
        return [START + timedelta(days=n) for n in range(self.days + 1)]

    @property
    def empty_date(self) -> date:
        """The day before the first: raw files with no rows, to time what a model costs regardless of data."""
        return START - timedelta(days=1)

    def config(self) -> SimulationConfig:
        start = datetime(START.year, START.month, START.day, tzinfo=UTC)
        return SimulationConfig(seed=self.seed, start=start, days=self.days + 1, users=self.users)

    def describe(self) -> dict[str, Any]:
        return {"users": self.users, "days": self.days, "seed": self.seed, "partitions": self.partitions,
                "flush_records": self.flush_records, "start": START.isoformat()}  # fmt: skip


class RawWriter:
    """Records to raw-zone objects as the sink writes them: per topic partition, batches of flush_records decoded
    against the contract (malformed records would be dead-lettered: they are counted and dropped), one zstd Parquet
    object per event hour of each batch, under the sink's object keys."""

    def __init__(self, data: DataSet, contract: Contract) -> None:
        self.data, self.contract = data, contract
        self.batches: dict[tuple[str, int], RecordBatch] = {}
        self.offsets: Counter[tuple[str, int]] = Counter()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parquet")  # zstd releases the GIL
        self.writes: list[Future[tuple[str, datetime, dict[str, Any]]]] = []
        self.counts: Counter[str] = Counter()

    def add(self, topic: str, key: bytes, value: bytes, kind: str) -> None:
        tp = (topic, zlib.crc32(key) % self.data.partitions)
        batch = self.batches.get(tp) or self.batches.setdefault(tp, RecordBatch(*tp))
        batch.offsets.append(self.offsets[tp])
        batch.keys.append(key)
        batch.values.append(value)
        batch.timestamps.append(int(time.time() * 1000))
        self.offsets[tp] += 1
        self.counts[kind] += 1
        if len(batch.offsets) >= self.data.flush_records:
            self.flush(tp)

    def flush(self, tp: tuple[str, int]) -> None:
        batch = self.batches.pop(tp)
        table, dead = decode(batch, self.contract, datetime.now(UTC))
        self.counts["dead_lettered"] += len(dead)
        self.counts["rows"] += table.num_rows
        for obj in split_by_hour(table, batch.topic, batch.partition, batch.offsets[0]):
            self.writes.append(
                self.pool.submit(self._write, batch.topic, batch.partition, obj.key, obj.hour, obj.table)
            )

    def _write(self, topic: str, partition: int, key: str, hour: datetime, table: pa.Table) -> Any:
        body = to_parquet(table)
        path = self.data.local / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        offsets = table.column("kafka_offset")
        fact = {"key": key, "bytes": len(body), "rows": table.num_rows, "partition": partition,
                "first_offset": offsets[0].as_py(), "last_offset": offsets[-1].as_py()}  # fmt: skip
        return topic, hour, fact

    def close(self) -> dict[tuple[str, datetime], list[dict[str, Any]]]:
        for tp in list(self.batches):
            self.flush(tp)
        objects: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
        for future in self.writes:
            topic, hour, fact = future.result()
            objects[topic, hour].append(fact)
        self.pool.shutdown()
        return objects


def generate(data: DataSet) -> dict[str, Any]:
    """The simulated days into the local mirror of the raw zone, with a completeness marker for every hour."""
    t0, contract = time.perf_counter(), load_contract()
    shutil.rmtree(data.local, ignore_errors=True)
    writer = RawWriter(data, contract)
    print(f"generating {data.days + 1} simulated days for {data.users:,} users into {data.local} ...", flush=True)
    for record in simulate(data.config()):
        writer.add(record.topic, record.key, record.value, record.kind)
    objects = writer.close()
    by_date: Counter[str] = Counter()
    watermark = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=data.days + 1)
    for topic in contract.topics:
        for day in data.dates:
            for hr in range(24):
                hour = datetime(day.year, day.month, day.day, hr, tzinfo=UTC)
                facts = sorted(objects.get((topic, hour), []), key=lambda f: f["key"])
                rows = sum(f["rows"] for f in facts)
                by_date[day.isoformat()] += rows
                marker = {"topic": topic, "hour": hour.isoformat(), "version": 1, "marked_at": RUN,
                          "watermark": watermark.isoformat(), "rows": rows, "objects": facts}  # fmt: skip
                path = data.local / lake.marker_key(topic, hour)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(marker, indent=1))
    for topic in contract.topics:  # the empty day: one object with no rows per topic, so engines really scan files
        midnight = datetime(data.empty_date.year, data.empty_date.month, data.empty_date.day, tzinfo=UTC)
        path = data.local / lake.raw_hour_prefix(topic, midnight) / "empty.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_parquet(lake.raw_schema().empty_table()))
    files = sum(len(facts) for facts in objects.values())
    manifest = {**data.describe(), "generated_at": RUN, "seconds": time.perf_counter() - t0, "objects": files,
                "bytes": sum(f["bytes"] for facts in objects.values() for f in facts), "records": dict(writer.counts),
                "raw_rows_by_date": dict(sorted(by_date.items()))}  # fmt: skip
    (data.local / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    (data.local / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _s3_manifest(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST)["Body"].read()))
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        return None


def upload(s3: S3Client, data: DataSet) -> None:
    """The local mirror's raw zone into the bucket (markers after their hour's objects); the manifest last."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=data.name)
    empty = lake.date_folder(data.empty_date)
    files = sorted(p for p in (data.local / lake.RAW).rglob("*") if p.is_file() and empty not in str(p))
    print(f"uploading {len(files):,} objects to s3://{data.name}/{lake.RAW} ...", flush=True)

    def put(path: Path) -> None:
        s3.put_object(Bucket=data.name, Key=path.relative_to(data.local).as_posix(), Body=path.read_bytes())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, [p for p in files if p.suffix == ".parquet"]))
        list(pool.map(put, [p for p in files if p.suffix != ".parquet"]))
    put(data.local / MANIFEST)


def ensure_data(settings: Settings, data: DataSet) -> dict[str, Any]:
    """The data set, generated only when neither the local mirror nor the bucket holds it yet."""
    s3 = s3_client(settings)
    local = data.local / MANIFEST
    manifest = json.loads(local.read_text()) if local.exists() else None
    if manifest is None:
        manifest = generate(data)
    elif {k: manifest[k] for k in data.describe()} != data.describe():
        raise SystemExit(f"{data.local} holds another data set ({manifest}); delete it and bucket {data.name}")
    else:
        print(f"data set cached in {data.local} (generated {manifest['generated_at']})")
    remote = _s3_manifest(s3, data.name)
    if remote is None or remote["generated_at"] != manifest["generated_at"]:
        upload(s3, data)
    return manifest


# --- timing -------------------------------------------------------------------------------------------------------


def jvm_cpu_s(spark: SparkSession | None) -> float:
    """User + system CPU seconds of Spark's driver JVM (local mode: executors are its threads): the process's own, or
    over Spark Connect the stack's server's (whatever else it runs meanwhile counts too)."""
    from sluice.spark import session_id
    from sluice.stack.spark import SparkConnect

    if spark is None:
        return 0.0
    if session_id(spark) is not None:
        pid = SparkConnect(load_settings()).process.pid()
        if pid is None:
            return 0.0
    else:
        pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class DateRun:
    engine: str
    ds: date
    wall: float = 0.0
    cpu: float = 0.0
    load: float = 0.0  # 1-minute load average when the date ended
    models: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> phase -> seconds (and "total")


class Phases:
    """Seconds per named phase, per thread: models of a date may run side by side."""

    def __init__(self) -> None:
        self.local = threading.local()

    def start(self) -> None:
        self.local.phases = Counter()

    def take(self) -> dict[str, float]:
        return dict(getattr(self.local, "phases", {}))

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.local.phases[phase] += time.perf_counter() - t0


# --- engines ------------------------------------------------------------------------------------------------------


def run_in_order(project: Project, run: Callable[[Model], None], threads: int) -> None:
    """Every model, each once its upstream models are done; `threads` at a time."""
    if threads <= 1:
        for model in project.models.values():
            run(model)
        return
    pending = {name: set(m.upstream & project.models.keys()) for name, m in project.models.items()}
    done: set[str] = set()
    running: dict[Future[None], str] = {}
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="model") as pool:
        while pending or running:
            for name in [n for n, ups in pending.items() if ups <= done]:
                running[pool.submit(run, project.models[name])] = name
                del pending[name]
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future))


class Engine:
    """Builds every model of one date; subclasses build one model."""

    name = ""
    threads = 1
    uses_jvm = False

    def __init__(self, project: Project) -> None:
        self.project = project
        self.phases = Phases()
        self.spark: SparkSession | None = None

    def prepare(self) -> None:
        """Before each date: engine-wide settings."""

    def build_model(self, model: Model, ds: date) -> None:
        raise NotImplementedError

    def build_date(self, ds: date) -> DateRun:
        self.prepare()
        result = DateRun(self.name, ds)
        lock = threading.Lock()

        def run(model: Model) -> None:
            self.phases.start()
            t0 = time.perf_counter()
            self.build_model(model, ds)
            phases = {**self.phases.take(), "total": time.perf_counter() - t0}
            with lock:
                result.models[model.name] = phases

        t0, cpu0 = time.perf_counter(), time.process_time() + (jvm_cpu_s(self.spark) if self.uses_jvm else 0.0)
        run_in_order(self.project, run, self.threads)
        result.wall = time.perf_counter() - t0
        result.cpu = time.process_time() + (jvm_cpu_s(self.spark) if self.uses_jvm else 0.0) - cpu0
        result.load = os.getloadavg()[0]
        return result


def _has_parquet(directory: Path) -> bool:
    return directory.is_dir() and next(directory.glob("*/*.parquet"), None) is not None


class DuckEngine(Engine):
    """DuckDB in this process: views over the local files, the model's SQL as sqlglot renders it for DuckDB, COPY to
    Parquet under out/<model>/dt=<ds>/."""

    name = "duckdb"

    def __init__(self, project: Project, raw: Path, out: Path) -> None:
        super().__init__(project)
        self.raw, self.out = raw, out
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")
        self.raw_empty = ", ".join(f"cast(null as {DUCK_TYPES[t]}) as {c}" for c, t in lake.RAW_SPARK_COLUMNS)

    def _view(self, table: str, ds: date) -> str:
        if table in self.project.sources:
            directory = self.raw / lake.raw_day_prefix(self.project.sources[table].topic, ds)
            types = "{'dt': 'DATE', 'hr': 'INTEGER'}"
            if not any(directory.glob("*/*.parquet")):
                return f"select {self.raw_empty} where false"
        else:
            directory, types = self.out / table, "{'dt': 'DATE'}"
            if not _has_parquet(directory):
                columns = self.project.table(table).spec.columns
                return (
                    "select "
                    + ", ".join(f"cast(null as {DUCK_TYPES[c.type]}) as {c.name}" for c in columns)
                    + (" where false")
                )
        return f"select * from read_parquet('{directory}/*/*.parquet', hive_partitioning = true, hive_types = {types})"

    def build_model(self, model: Model, ds: date) -> None:
        with self.phases.timed("views"):
            for table in sorted(model.upstream | {model.name}):
                self.con.execute(f"create or replace temp view {table} as {self._view(table, ds)}")
        target = self.out / model.name / f"dt={ds}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        typed = ", ".join(f"cast({c.name} as {DUCK_TYPES[c.type]}) as {c.name}" for c in model.spec.columns[:-1])
        with self.phases.timed("run + write"):
            sql = model.render(ds, "duckdb")
            self.con.execute(f"copy (select {typed} from ({sql}) as m) to '{target}/data.parquet' (format parquet)")


class SparkEngine(Engine):
    """Spark SQL on the local files: temp views named like the tables, the model's SQL as is, Parquet written under
    out/<model>/dt=<ds>/ (file://). Session settings in `conf` are applied before each date."""

    uses_jvm = True

    def __init__(self, project: Project, spark: SparkSession, raw: Path, out: Path, name: str,
                 conf: dict[str, str], threads: int = 1) -> None:  # fmt: skip
        super().__init__(project)
        self.spark, self.raw, self.out, self.name, self.conf, self.threads = spark, raw, out, name, conf, threads

    def prepare(self) -> None:
        apply_conf(self.spark, self.conf)

    def _frame(self, table: str, ds: date) -> DataFrame:
        assert self.spark is not None
        if table in self.project.sources:
            base = self.raw / lake.raw_topic_prefix(self.project.sources[table].topic)
            day = base / lake.date_folder(ds)
            if not any(day.glob("*/*.parquet")):
                return self.spark.createDataFrame([], lake.RAW_SPARK_DDL)
            return (
                self.spark.read.schema(lake.RAW_SPARK_DDL).option("basePath", f"file://{base}").parquet(f"file://{day}")
            )
        schema = ", ".join(f"`{c.name}` {c.type}" for c in self.project.table(table).spec.columns)
        if not _has_parquet(self.out / table):
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(f"file://{self.out / table}")

    def build_model(self, model: Model, ds: date) -> None:
        from pyspark.sql import functions as F

        assert self.spark is not None
        self.spark.sparkContext.setJobGroup(f"{self.name}|{model.name}|{ds}", model.name)
        with self.phases.timed("views"):
            for table in sorted(model.upstream | {model.name}):
                self._frame(table, ds).createOrReplaceTempView(table)
        with self.phases.timed("parse + analyze"):
            result = self.spark.sql(model.render(ds))
            typed = result.select([F.col(c.name).cast(c.type).alias(c.name) for c in model.spec.columns[:-1]])
        with self.phases.timed("plan + run + write"):
            typed.write.mode("overwrite").parquet(f"file://{self.out / model.name}/dt={ds}")


BASELINE: dict[str, str | None] = {}  # the session's own value of every key some engine sets


def apply_conf(spark: SparkSession | None, conf: dict[str, str]) -> None:
    assert spark is not None
    for key in conf.keys() - BASELINE.keys():
        BASELINE[key] = spark.conf.get(key, None)
    for key, default in BASELINE.items():
        value = conf.get(key, default)
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


class TimedBuilder(Builder):
    """The real Builder; its steps timed from outside (the methods it calls, wrapped)."""

    phases = Phases()

    def ensure_tables(self, names: list[str]) -> None:
        with self.phases.timed("catalog: create if not exists"):
            super().ensure_tables(names)

    def _raw_view(self, source: str, ds: date, require_complete: bool) -> DataFrame:
        with self.phases.timed("raw: markers + S3 listing"):
            return super()._raw_view(source, ds, require_complete)

    def _stage(self, model: Model, ds: date, staged_uri: str) -> DataFrame:
        with self.phases.timed("stage: SQL + write + read back + dt check"):
            return super()._stage(model, ds, staged_uri)

    def _delete(self, uri: str) -> None:
        with self.phases.timed("delete staged"):
            super()._delete(uri)


@contextlib.contextmanager
def wrapped(owner: Any, attribute: str, phase: str) -> Iterator[None]:
    """Time calls of owner.attribute as TimedBuilder's phase `phase` while in the block."""
    original = getattr(owner, attribute)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with TimedBuilder.phases.timed(phase):
            return original(*args, **kwargs)

    setattr(owner, attribute, timed)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


class BuilderEngine(Engine):
    """sluice.marts.build.Builder on S3 in a schema of its own: SQL staged to S3, Great Expectations gate, report,
    publish into the Hive-metastore table by dynamic partition overwrite."""

    name = "sluice builder"
    uses_jvm = True

    def __init__(self, project: Project, spark: SparkSession, settings: Settings, conf: dict[str, str]) -> None:
        super().__init__(project)
        self.spark, self.conf = spark, conf
        self.builder = TimedBuilder(spark, settings, project)
        self.phases = TimedBuilder.phases

    def prepare(self) -> None:
        apply_conf(self.spark, self.conf)

    def build_model(self, model: Model, ds: date) -> None:
        from pyspark.sql import DataFrameWriter

        with (
            wrapped(quality, "validate", "gate: Great Expectations"),
            wrapped(quality, "write_report", "report: result JSON + Data Docs"),
            wrapped(DataFrameWriter, "insertInto", "publish: insertInto (dynamic overwrite)"),
        ):
            self.builder.build(model.name, ds)


# --- runs ---------------------------------------------------------------------------------------------------------


def spark_session_for(settings: Settings, static: list[str], connect: bool) -> SparkSession:
    """Sluice's session, classic or (connect) a client of the stack's Spark Connect server; `static` settings (JVM
    options, static SQL settings) reach spark-submit through PYSPARK_SUBMIT_ARGS, as `SparkSession.builder` is a new
    builder on every access."""
    from sluice.spark import classic_session, connect_session

    if connect:
        assert settings.spark_remote, "--connect needs SLUICE_SPARK_REMOTE (the local profile sets it)"
        t0 = time.perf_counter()
        session = connect_session(settings.spark_remote)
        print(f"spark connect session to {settings.spark_remote} in {time.perf_counter() - t0:.1f}s", flush=True)
        return session
    if static:
        os.environ["PYSPARK_SUBMIT_ARGS"] = " ".join(f"--conf {shlex.quote(s)}" for s in static) + " pyspark-shell"
    t0 = time.perf_counter()
    spark = classic_session(settings, "sluice-bench-marts")
    print(
        f"spark session started in {time.perf_counter() - t0:.1f}s" + (f" with {static}" if static else ""), flush=True
    )
    return spark


def run_dates(engines: list[Engine], dates: list[date], label: str) -> dict[str, list[DateRun]]:
    """Date by date; within a date each engine in turn builds every model."""
    runs: dict[str, list[DateRun]] = {e.name: [] for e in engines}
    for ds in dates:
        line = []
        for engine in engines:
            run = engine.build_date(ds)
            runs[engine.name].append(run)
            line.append(f"{engine.name} {run.wall:5.1f}s ({run.cpu:.0f} CPU-s)")
        print(f"{label} {ds}  " + "  ".join(line) + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    return runs


def job_stats(spark: SparkSession, groups: list[str]) -> dict[str, tuple[int, int]]:
    """(jobs, tasks) per job group, from the status tracker (recent jobs only: read right after a date)."""
    tracker, stats = spark.sparkContext.statusTracker(), {}
    for group in groups:
        jobs = tracker.getJobIdsForGroup(group)
        tasks = 0
        for job in jobs:
            info = tracker.getJobInfo(job)
            for stage in info.stageIds if info else []:
                stage_info = tracker.getStageInfo(stage)
                tasks += stage_info.numTasks if stage_info else 0
        stats[group] = (len(jobs), tasks)
    return stats


def count_rows(out: Path, dates: list[date], models: list[str]) -> dict[str, dict[str, int]]:
    """Rows per model per date from the Parquet footers an engine wrote."""
    rows: dict[str, dict[str, int]] = defaultdict(dict)
    for name in models:
        for ds in dates:
            files = (out / name / f"dt={ds}").glob("*.parquet")
            rows[name][ds.isoformat()] = sum(pq.read_metadata(f).num_rows for f in files)
    return rows


def clear_lake(settings: Settings, spark: SparkSession | None) -> None:
    """Everything the Builder wrote in the data set's bucket (tables, staging, reports), and its schema."""
    if spark is not None:
        spark.sql(f"drop database if exists {settings.marts_schema} cascade")
    s3 = s3_client(settings)
    for zone in (*lake.LAYERS, lake.STAGING, lake.QUALITY, lake.QUARANTINE, lake.CATALOG):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=f"{zone}/"):
            if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                s3.delete_objects(Bucket=settings.lake_bucket, Delete={"Objects": keys})


# --- report -------------------------------------------------------------------------------------------------------


def points(days: int) -> list[int]:
    return sorted({n for n in (1, 7, 30, days) if n <= days})


def summarize(runs: list[DateRun], days: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in points(days):
        out[f"full_{n}d_s"] = sum(r.wall for r in runs[:n])
        out[f"full_{n}d_cpu_s"] = sum(r.cpu for r in runs[:n])
        out[f"incr_after_{n}d_s"] = runs[n].wall
        out[f"incr_after_{n}d_cpu_s"] = runs[n].cpu
    return out


def print_main_table(summary: dict[str, dict[str, Any]], days: int, reference: str) -> dict[str, Any]:
    ns = points(days)
    heads = [f"full {n}d" for n in ns] + [f"+1d after {n}d" for n in ns] + [f"CPU full {ns[-1]}d"]
    print(f"\n{'seconds':24}" + "".join(f"{h:>15}" for h in heads))
    keys = [f"full_{n}d_s" for n in ns] + [f"incr_after_{n}d_s" for n in ns] + [f"full_{ns[-1]}d_cpu_s"]
    for engine, s in summary.items():
        print(f"{engine:24}" + "".join(f"{s[k]:15.1f}" for k in keys))
    ratios = {}
    for engine, s in summary.items():
        if engine != reference and reference in summary:
            ratios[f"{engine}/{reference}"] = {k: s[k] / summary[reference][k] for k in keys}
            print(f"{engine + ' / ' + reference:24}" + "".join(f"{s[k] / summary[reference][k]:14.2f}x" for k in keys))
    return ratios


def print_flatness(summary: dict[str, dict[str, Any]], days: int, manifest: dict[str, Any]) -> None:
    ns = points(days)
    raw = manifest["raw_rows_by_date"]
    events = [raw[(START + timedelta(days=n)).isoformat()] for n in ns]
    print("\nincremental refresh (one date, every model) as history grows; raw rows of that date: "
          + ", ".join(f"{n}d: {e:,}" for n, e in zip(ns, events, strict=True)))  # fmt: skip
    for engine, s in summary.items():
        per_m = [s[f"incr_after_{n}d_s"] / e * 1e6 for n, e in zip(ns, events, strict=True)]
        print(f"  {engine:22} s per million raw rows: " + "  ".join(f"{v:7.1f}" for v in per_m)
              + f"   last/first {per_m[-1] / per_m[0]:.2f}x")  # fmt: skip


def model_totals(runs: list[DateRun]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for run in runs:
        for name, phases in run.models.items():
            totals[name] += phases["total"]
    return dict(totals)


def phase_totals(runs: list[DateRun]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for run in runs:
        for phases in run.models.values():
            totals.update(phases)
    totals["between models (scheduling, threads)"] = sum(r.wall for r in runs) - totals["total"]
    return dict(totals)


def print_breakdown(runs: dict[str, list[DateRun]], empty: dict[str, DateRun], days: int, spark_name: str,
                    jobs: dict[str, tuple[int, int]], rows: dict[str, dict[str, int]]) -> dict[str, Any]:  # fmt: skip
    full = {name: r[:days] for name, r in runs.items()}
    spark_models, duck_models = model_totals(full[spark_name]), model_totals(full.get("duckdb", []))
    print(f"\nwhere {spark_name}'s {days}-day full rebuild goes, top 10 models (s over {days} dates; empty = one "
          "date with no rows; jobs/tasks per date):")  # fmt: skip
    print(
        f"  {'model':32}{'spark s':>9}{'duckdb s':>9}{'ratio':>7}{'empty s':>9}{'rows/date':>11}{'jobs':>6}{'tasks':>7}"
    )
    for name, seconds in sorted(spark_models.items(), key=lambda kv: -kv[1])[:10]:
        duck = duck_models.get(name, float("nan"))
        empty_s = empty[spark_name].models[name]["total"] if spark_name in empty else float("nan")
        per_date = statistics.mean(rows.get(name, {"-": 0}).values())
        job, task = jobs.get(name, (0, 0))
        print(
            f"  {name:32}{seconds:9.1f}{duck:9.1f}{seconds / duck:7.1f}{empty_s:9.2f}{per_date:11,.0f}{job:6}{task:7}"
        )
    breakdown: dict[str, Any] = {"top_models": spark_models, "duckdb_models": duck_models}
    for name, engine_runs in full.items():
        phases = phase_totals(engine_runs)
        total = sum(r.wall for r in engine_runs)
        shares = ", ".join(f"{p} {s:.1f}s ({s / total:.0%})" for p, s in sorted(phases.items(), key=lambda kv: -kv[1])
                           if p != "total")  # fmt: skip
        print(f"  {name}: {total:.1f}s = {shares}")
        breakdown[f"phases {name}"] = phases
    print("\nfixed cost per date (every model on a date with no rows) against a full date (mean of the last 7):")
    for name, run in empty.items():
        typical = statistics.mean(r.wall for r in full[name][-7:])
        print(
            f"  {name:24} empty date {run.wall:6.1f}s  full date {typical:6.1f}s  fixed share {run.wall / typical:.0%}"
        )
        breakdown[f"empty_date_s {name}"] = run.wall
    return breakdown


def print_builder(runs: list[DateRun], bare: list[DateRun] | None, days: int) -> dict[str, float]:
    phases = phase_totals(runs[:days])
    total = sum(r.wall for r in runs[:days])
    versus = ""
    if bare:
        bare_total = sum(r.wall for r in bare[:days])
        versus = f", {total / bare_total:.1f}x bare Spark SQL's {bare_total:.1f}s on the same session settings"
    print(f"\nsluice builder, {days}-day full rebuild {total:.1f}s{versus}; where it goes:")
    accounted = sum(s for p, s in phases.items() if p not in ("total", "between models (scheduling, threads)"))
    phases["other: views, setCurrentDatabase, count"] = phases["total"] - accounted
    for phase, seconds in sorted(phases.items(), key=lambda kv: -kv[1]):
        if phase != "total":
            print(f"  {phase:48}{seconds:9.1f}s {seconds / total:6.1%}")
    return phases


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    path = REPO / "benchmarks" / "results" / f"marts-{RUN}.json"
    path.parent.mkdir(exist_ok=True)
    settings = {"cpus": os.cpu_count(), "git": git.stdout.strip(), **vars(args)}
    path.write_text(json.dumps({"run": RUN, "settings": settings, **results}, indent=1, default=str))
    print(f"cpus {os.cpu_count()}, code at {git.stdout.strip()}; written to {path}")


# --- main ---------------------------------------------------------------------------------------------------------


def make_engines(args: argparse.Namespace, project: Project, spark: SparkSession | None, settings: Settings,
                 raw: Path, out: Path) -> list[Engine]:  # fmt: skip
    chosen = args.engines.split(",")
    engines: list[Engine] = []
    if "duckdb" in chosen:
        engines.append(DuckEngine(project, raw, out / "duckdb"))
    if spark is None:
        return engines
    if "spark" in chosen:
        engines.append(SparkEngine(project, spark, raw, out / "spark", "spark", {}))
    if "spark-tuned" in chosen:
        engines.append(SparkEngine(project, spark, raw, out / "spark-tuned", "spark tuned", TUNED, TUNED_THREADS))
    if "builder" in chosen:
        engines.append(BuilderEngine(project, spark, settings, {}))
    return engines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="history of the longest full rebuild")
    parser.add_argument("--users", type=int, default=25_000, help="simulated users (about 14 events each a day)")
    engines = "comma-separated: duckdb, spark (sluice's session settings), spark-tuned, builder"
    parser.add_argument("--engines", default="duckdb,spark,spark-tuned,builder", help=engines)
    parser.add_argument("--tune", action="store_true", help="instead: Spark settings side by side on these days")
    parser.add_argument("--variants", help="--tune: names of the variants to run, comma-separated (default all)")
    parser.add_argument("--tune-days", type=int, default=4, help="--tune: the data set's first dates it builds")
    static = "a setting for the session's start (JVM options, static SQL settings); repeatable"
    parser.add_argument("--spark-static", action="append", default=[], metavar="KEY=VALUE", help=static)
    parser.add_argument("--keep", action="store_true", help="keep this run's outputs, schema and tables")
    parser.add_argument("--connect", action="store_true", help="the builder as a client of the stack's Connect server")
    args = parser.parse_args()

    base = load_settings()
    data = DataSet(args.users, args.days)
    manifest = ensure_data(base, data)
    records = manifest["records"]
    print(f"data set: {sum(records[k] for k in ('valid', 'duplicate', 'malformed')):,} records "
          f"({records.get('dead_lettered', 0):,} malformed, dropped), {manifest['objects']:,} objects, "
          f"{manifest['bytes'] / 1e6:.0f} MB; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    settings = base.model_copy(
        update={"lake_bucket": data.name, "marts_schema": f"bench_marts_{RUN.replace('-', '_')}"}
    )
    project, out = load_project(), BENCH_HOME / f"run-{RUN}"
    need_spark = args.tune or any(e in args.engines for e in ("spark", "builder"))
    if args.connect and ({"spark", "spark-tuned"} & set(args.engines.split(",")) or args.tune):
        parser.error("--connect runs the builder over Spark Connect: --engines duckdb,builder (the bare Spark engines "
                     "use JVM-only APIs)")  # fmt: skip
    spark = spark_session_for(settings, args.spark_static, args.connect) if need_spark else None
    try:
        if args.tune:
            tune(args, data, project, spark, out)
            return
        clear_lake(settings, spark)
        engines = make_engines(args, project, spark, settings, data.local, out)
        run_all(args, data, manifest, engines, spark)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
            if not args.tune:
                clear_lake(settings, spark)


def run_all(args: argparse.Namespace, data: DataSet, manifest: dict[str, Any], engines: list[Engine],
            spark: SparkSession | None) -> None:  # fmt: skip
    load0 = os.getloadavg()
    runs = run_dates(engines, data.dates, "date")
    bare = [e for e in engines if not isinstance(e, BuilderEngine)]
    empty = {name: min(rs, key=lambda r: r.wall) for name, rs in
             run_dates(bare, [data.empty_date], "empty date").items()}  # fmt: skip
    summary = {name: summarize(r, data.days) for name, r in runs.items()}
    ratios = print_main_table(summary, data.days, "duckdb")
    print_flatness(summary, data.days, manifest)
    results: dict[str, Any] = {"data": manifest, "summary": summary, "ratios": ratios}
    spark_names = [e.name for e in bare if isinstance(e, SparkEngine)]
    rows = count_rows(engines[0].out, data.dates, list(engines[0].project.models)) if bare else {}  # type: ignore[attr-defined]
    for name in spark_names:
        engine = next(e for e in bare if e.name == name)
        groups = {m: f"{name}|{m}|{data.dates[-1]}" for m in engine.project.models}
        stats = job_stats(spark, list(groups.values())) if spark else {}
        jobs = {m: stats.get(g, (0, 0)) for m, g in groups.items()}
        results[f"breakdown {name}"] = print_breakdown(runs, empty, data.days, name, jobs, rows)
        check_rows(rows, count_rows(engine.out, data.dates, list(engine.project.models)), name)  # type: ignore[attr-defined]
    if "sluice builder" in runs:
        bare_spark = runs.get("spark") or (runs[spark_names[0]] if spark_names else None)
        results["builder_phases"] = print_builder(runs["sluice builder"], bare_spark, data.days)
    results["runs"] = {name: [vars(r) for r in rs] for name, rs in runs.items()}
    results["load"] = {"start": load0, "end": os.getloadavg(),
                       "mean_1min": statistics.mean(r.load for rs in runs.values() for r in rs)}  # fmt: skip
    print(f"\nload average: {load0[0]:.1f} at the start, {results['load']['mean_1min']:.1f} on average, "
          f"{os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    report(results, args)


def check_rows(reference: dict[str, dict[str, int]], other: dict[str, dict[str, int]], name: str) -> None:
    differ = [(m, d) for m, by in reference.items() for d, n in by.items() if other.get(m, {}).get(d) != n]
    print(f"{name}: row counts {'equal' if not differ else 'DIFFER'} to duckdb's for every model and date"
          + (f" except {differ[:5]}" if differ else ""))  # fmt: skip


# --- tuning -------------------------------------------------------------------------------------------------------

SHUFFLE, AQE, OPEN_COST = (
    "spark.sql.shuffle.partitions",
    "spark.sql.adaptive.enabled",
    "spark.sql.files.openCostInBytes",
)


@dataclass(frozen=True)
class Variant:
    name: str
    conf: dict[str, str]
    threads: int = 1
    compacted: bool = False  # raw files merged to one per topic-hour (a compaction job; the sink writes one per
    # Kafka partition and batch)


CODEGEN_OFF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
VARIANTS = [
    Variant("sluice defaults", {}),
    Variant("shuffle 1", {SHUFFLE: "1"}),
    Variant("shuffle 2", {SHUFFLE: "2"}),
    Variant("shuffle 4", {SHUFFLE: "4"}),
    Variant("shuffle 2 + AQE off", {SHUFFLE: "2", AQE: "false"}),
    Variant("shuffle 2 + openCost 1MB", {SHUFFLE: "2", OPEN_COST: "1048576"}),
    Variant("shuffle 2 + openCost 64MB", {SHUFFLE: "2", OPEN_COST: str(64 << 20)}),
    Variant("shuffle 2 + no whole-stage codegen", {SHUFFLE: "2", "spark.sql.codegen.wholeStage": "false"}),
    Variant("shuffle 2 + no codegen", {SHUFFLE: "2", **CODEGEN_OFF}),
    Variant("shuffle 2 + 2 threads", {SHUFFLE: "2"}, threads=2),
    Variant("shuffle 2 + 4 threads", {SHUFFLE: "2"}, threads=4),
    Variant("shuffle 2 + compacted raw", {SHUFFLE: "2"}, compacted=True),
    Variant("tuned", TUNED, threads=TUNED_THREADS),
]


def compact(data: DataSet) -> Path:
    """A copy of the local raw zone with each hour's objects merged into one."""
    root = BENCH_HOME / f"{data.name}-compacted"
    if (root / MANIFEST).exists():
        return root
    for hour_dir in sorted((data.local / lake.RAW).glob("*/dt=*/hr=*")):
        tables = [pq.read_table(f) for f in sorted(hour_dir.glob("*.parquet"))]
        target = root / hour_dir.relative_to(data.local) / "compacted.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(to_parquet(pa.concat_tables(tables)))
    (root / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(data.local / MANIFEST, root / MANIFEST)
    return root


def tune(args: argparse.Namespace, data: DataSet, project: Project, spark: SparkSession | None, out: Path) -> None:
    """Spark SQL under each variant and DuckDB, date by date; the first date (JVM warm-up) is left out of the sums."""
    chosen = set(args.variants.split(",")) if args.variants else {v.name for v in VARIANTS}
    variants = [v for v in VARIANTS if v.name in chosen]
    assert spark is not None
    engines: list[Engine] = [DuckEngine(project, data.local, out / "duckdb")]
    for n, v in enumerate(variants):
        raw = compact(data) if v.compacted else data.local
        engines.append(SparkEngine(project, spark, raw, out / f"variant-{n}", v.name, v.conf, v.threads))
    dates = data.dates[: args.tune_days]
    runs = run_dates(engines, dates, "tune")
    measured = {name: rs[1:] or rs for name, rs in runs.items()}
    duck = sum(r.wall for r in measured["duckdb"])
    first = sum(r.wall for r in measured[variants[0].name])
    print(f"\n{'variant':36}{'seconds':>9}{'CPU s':>9}{'x duckdb':>10}{'x ' + variants[0].name:>20}")
    table = {}
    for name, rs in measured.items():
        wall, cpu = sum(r.wall for r in rs), sum(r.cpu for r in rs)
        table[name] = {"seconds": wall, "cpu_s": cpu, "x_duckdb": wall / duck, "x_first": wall / first}
        print(f"{name:36}{wall:9.1f}{cpu:9.1f}{wall / duck:10.2f}{wall / first:20.2f}")
    print(f"(dates {dates[1] if len(dates) > 1 else dates[0]}..{dates[-1]}; load "
          f"{statistics.mean(r.load for rs in runs.values() for r in rs):.1f} on average)")  # fmt: skip
    results = {"variants": [vars(v) for v in variants], "tune": table,
               "runs": {name: [vars(r) for r in rs] for name, rs in runs.items()}}  # fmt: skip
    report(results, args)


if __name__ == "__main__":
    sys.exit(main())
