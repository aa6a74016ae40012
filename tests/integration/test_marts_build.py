"""Every model built on the real stack from simulated days that went through Kafka and the sink.

Expected figures come from the simulated records themselves (the test's fixture), never from the models.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ingestion.contract import load_contract
from ingestion.raw_zone import to_parquet
from ingestion.simulator import Record, SimulationConfig, produce, simulate
from ingestion.sink import ingest_backlog
from sluice import lake
from sluice.marts.build import Builder, GateFailed, IncompleteInput, read_build_record
from sluice.marts.project import load_project
from sluice.objectstore import list_objects, s3_client
from sluice.settings import REPO_ROOT, Settings
from sluice.stack.process import wait_until
from sluice.stack.spark import SparkConnect
from tests.integration.lake_readers import bad_listings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.timeout(2400)  # the module fixture simulates, ingests and builds 2 days x 35 models

FIRST = date(2026, 10, 5)
SECOND = FIRST + timedelta(days=1)


@dataclass(frozen=True)
class BuiltLake:
    settings: Settings
    builder: Builder
    events: list[dict[str, object]]  # the valid simulated events, parsed


@pytest.fixture(scope="module")
def built(stack: Settings, spark: SparkSession) -> Iterator[BuiltLake]:
    """Two simulated days (and a few hours more, so both are complete) ingested and built, in order."""
    name = f"marts{datetime.now(UTC):%H%M%S%f}"
    settings = stack.model_copy(
        update={"lake_bucket": name, "ingest_group": name, "marts_schema": name, "ingest_flush_seconds": 1.0}
    )
    s3_client(settings).create_bucket(Bucket=name)
    from tests.integration.lake_readers import commit_group_at_end

    topics = list(load_contract().topics)
    commit_group_at_end(settings, topics)
    config = SimulationConfig(seed=23, start=datetime(2026, 10, 5, tzinfo=UTC), days=2.3, users=1500)
    records = list(simulate(config))
    produce(settings, records)
    ingest_backlog(settings, load_contract())
    builder = Builder(spark, settings, load_project())
    for day in (FIRST, SECOND):
        list(builder.build_many(list(builder.project.models), day))
    yield BuiltLake(settings, builder, _valid_events(records))
    spark.sql(f"drop database if exists {name} cascade")  # the catalog entries; the bucket is the test's own


def _valid_events(records: list[Record]) -> list[dict[str, object]]:
    events = {}
    for record in records:
        if record.kind == "valid":
            event = json.loads(record.value)
            event["date"] = datetime.fromisoformat(event["event_time"]).astimezone(UTC).date()
            events[event["event_id"]] = event
    return list(events.values())


def _partition(spark: SparkSession, lake: BuiltLake, table: str, day: date) -> list[tuple[object, ...]]:
    rows = spark.sql(f"select * from {lake.builder.table(table)} where dt = '{day}'").collect()
    return sorted(tuple(row) for row in rows)


def _checksum(rows: list[tuple[object, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _of(lake: BuiltLake, event_type: str, day: date) -> list[dict[str, object]]:
    return [e for e in lake.events if e["event_type"] == event_type and e["date"] == day]


def test_every_model_is_published_for_both_days(spark: SparkSession, built: BuiltLake) -> None:
    empty = {
        (name, day)
        for name in built.builder.project.models
        for day in (FIRST, SECOND)
        if not _partition(spark, built, name, day)
    }
    assert empty == set()


@pytest.mark.parametrize(
    ("table", "event_type"),
    [("stg_listings", "listing_created"), ("stg_listing_views", "listing_viewed"),
     ("stg_transactions", "transaction_completed"), ("stg_chats", "chat_started"), ("stg_users", "user_signed_up")],
)  # fmt: skip
def test_staging_holds_each_simulated_event_once(
    spark: SparkSession, built: BuiltLake, table: str, event_type: str
) -> None:
    # The simulator sent 1% of records twice and 2% hours late; neither may show in the counts.
    for day in (FIRST, SECOND):
        ids = spark.sql(f"select event_id from {built.builder.table(table)} where dt = '{day}'").collect()
        assert sorted(row.event_id for row in ids) == sorted(str(e["event_id"]) for e in _of(built, event_type, day))


def test_gmv_mart_totals_equal_the_simulated_transactions(spark: SparkSession, built: BuiltLake) -> None:
    sold = _of(built, "transaction_completed", SECOND)
    row = spark.sql(
        f"select sum(transactions) as n, sum(gmv) as gmv from {built.builder.table('mart_gmv_daily')} "
        f"where dt = '{SECOND}'"
    ).first()
    assert row is not None
    assert (row.n, row.gmv) == (len(sold), sum(int(e["price"]) for e in sold))  # type: ignore[call-overload]


def test_rebuilding_a_date_gives_identical_partitions_and_leaves_other_dates_alone(
    spark: SparkSession, built: BuiltLake
) -> None:
    names = list(built.builder.project.models)
    before = {(n, d): _checksum(_partition(spark, built, n, d)) for n in names for d in (FIRST, SECOND)}
    list(built.builder.build_many(names, SECOND))
    after = {(n, d): _checksum(_partition(spark, built, n, d)) for n in names for d in (FIRST, SECOND)}
    assert after == before


def test_a_replayed_raw_object_does_not_change_mart_totals(spark: SparkSession, built: BuiltLake) -> None:
    s3, bucket = s3_client(built.settings), built.settings.lake_bucket
    prefix = f"raw/marketplace.transactions/dt={SECOND}/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    key = next(item["Key"] for item in listed if item["Key"].endswith(".parquet"))
    replay = key.replace(".parquet", "-replayed.parquet")
    s3.copy_object(Bucket=bucket, Key=replay, CopySource={"Bucket": bucket, "Key": key})
    try:
        gmv_before = _checksum(_partition(spark, built, "mart_gmv_daily", SECOND))
        project = built.builder.project
        feeding_gmv = set(project.select(["mart_gmv_daily"], upstream=True))
        chosen = [name for name in project.select(["stg_transactions"], downstream=True) if name in feeding_gmv]
        list(built.builder.build_many(chosen, SECOND))
        assert _checksum(_partition(spark, built, "mart_gmv_daily", SECOND)) == gmv_before
    finally:
        s3.delete_object(Bucket=bucket, Key=replay)


def test_a_snapshot_whose_previous_day_is_not_built_refuses_to_start_from_nothing(built: BuiltLake) -> None:
    """dim_listings carries yesterday forward; with yesterday gone and raw history from FIRST on, a build of SECOND
    would publish a snapshot without FIRST's listings, every gate green."""
    s3, bucket = s3_client(built.settings), built.settings.lake_bucket
    previous = lake.partition_prefix("core", "dim_listings", FIRST)
    saved = {
        i["Key"]: s3.get_object(Bucket=bucket, Key=i["Key"])["Body"].read() for i in list_objects(s3, bucket, previous)
    }
    assert saved
    for key in saved:
        s3.delete_object(Bucket=bucket, Key=key)
    try:
        with pytest.raises(IncompleteInput) as refused:
            built.builder.build("dim_listings", SECOND)
    finally:
        for key, body in saved.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert str(refused.value) == (
        f"dim_listings dt={SECOND} carries dt={FIRST} forward, which is not built, and the raw zone holds events from "
        f"{FIRST} on: starting from an empty snapshot would drop them. Build the days before in order first: "
        f"`sluice marts build dim_listings --with-upstream --date {FIRST} --until {FIRST}`"
    )


def test_bad_rows_block_the_partition_keep_the_published_one_and_are_quarantined(
    spark: SparkSession, built: BuiltLake
) -> None:
    s3, bucket = s3_client(built.settings), built.settings.lake_bucket
    published = _partition(spark, built, "stg_listings", SECOND)
    key = f"raw/marketplace.listings/dt={SECOND}/hr=05/marketplace.listings-p0099-o{0:020d}.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=to_parquet(bad_listings(SECOND)))
    try:
        with pytest.raises(GateFailed) as failure:
            built.builder.build("stg_listings", SECOND)
        message = str(failure.value)
        assert "not_null(listing_id) 1 row" in message
        assert "accepted_range(price" in message
        assert _partition(spark, built, "stg_listings", SECOND) == published
        location = f"{built.settings.lake_uri}/quarantine/stg_listings/dt={SECOND}/"
        assert failure.value.quarantine_uri.startswith(location), failure.value.quarantine_uri
        quarantined = spark.read.parquet(failure.value.quarantine_uri).select("event_id", "_failed_checks").collect()
        broke = {row.event_id: " ".join(row._failed_checks) for row in quarantined}
        assert sorted(broke) == ["bad-negative-price", "bad-null-key"]
        assert "not_null(listing_id)" in broke["bad-null-key"]
        assert "accepted_range(price" in broke["bad-negative-price"]
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def test_a_day_with_an_hour_not_yet_marked_complete_is_refused_and_the_published_one_kept(
    spark: SparkSession, built: BuiltLake
) -> None:
    s3, bucket = s3_client(built.settings), built.settings.lake_bucket
    published = _partition(spark, built, "stg_listings", SECOND)
    marker = f"raw/marketplace.listings/dt={SECOND}/hr=07/_COMPLETE.json"
    body = s3.get_object(Bucket=bucket, Key=marker)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=marker)  # as if the sink had not passed 07:00-08:00 yet
    try:
        refused = r"marketplace.listings.*dt=2026-10-06 hours \[7\].*--allow-incomplete"
        with pytest.raises(IncompleteInput, match=refused):
            built.builder.build("stg_listings", SECOND)
        assert _partition(spark, built, "stg_listings", SECOND) == published
    finally:
        s3.put_object(Bucket=bucket, Key=marker, Body=body)


# --- the job as Airflow runs it: a process, a client of the warm Spark Connect server (or a classic session) --------

JOB = [sys.executable, "-m", "spark_jobs.build_model"]
KILLED = "dim_listings"  # reads several upstreams and its own past: a build long enough to kill halfway


def _job(settings: Settings, model: str, day: date, **env: str) -> subprocess.Popen[str]:
    target = {"SLUICE_LAKE_BUCKET": settings.lake_bucket, "SLUICE_MARTS_SCHEMA": settings.marts_schema}
    return subprocess.Popen(
        [*JOB, model, "--date", str(day)],
        cwd=REPO_ROOT,
        env={**os.environ, **target, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run_job(settings: Settings, model: str, day: date, **env: str) -> str:
    job = _job(settings, model, day, **env)
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0, output[-3000:]
    return output


def _staged(settings: Settings) -> list[str]:
    listed = s3_client(settings).list_objects_v2(Bucket=settings.lake_bucket, Prefix="_staging/")
    return [item["Key"] for item in listed.get("Contents", [])]


def _wait_for_staging(settings: Settings, model: str, day: date, job: subprocess.Popen[str]) -> None:
    """Until the job has begun writing its staged partition: it is then mid-build."""
    prefix = f"_staging/{model}/dt={day}/"
    deadline = time.monotonic() + 300
    while not s3_client(settings).list_objects_v2(Bucket=settings.lake_bucket, Prefix=prefix).get("KeyCount"):
        assert job.poll() is None, "the job ended before it staged anything"
        assert time.monotonic() < deadline, f"nothing staged under {prefix}"
        time.sleep(0.05)


def test_a_job_in_a_classic_session_as_on_kubernetes_publishes_the_same_partition(
    spark: SparkSession, built: BuiltLake
) -> None:
    clean = _partition(spark, built, "fct_transactions", SECOND)
    record = read_build_record(s3_client(built.settings), built.settings, "fct_transactions", SECOND)
    output = _run_job(built.settings, "fct_transactions", SECOND, SLUICE_SPARK_REMOTE="")  # no server: its own JVM
    assert f"fct_transactions dt={SECOND}: {len(clean)} rows published" in output
    assert read_build_record(s3_client(built.settings), built.settings, "fct_transactions", SECOND) != record
    spark.catalog.refreshTable(built.builder.table("fct_transactions"))
    assert _partition(spark, built, "fct_transactions", SECOND) == clean


def test_a_job_killed_mid_build_and_run_again_publishes_the_clean_partition_and_leaves_nothing_staged(
    spark: SparkSession, built: BuiltLake
) -> None:
    """SIGKILL to the client leaves its operations running on the server; the next try must stop them before it
    builds, or the orphan could publish beside it and leave its staged files behind."""
    clean = _partition(spark, built, KILLED, SECOND)
    job = _job(built.settings, KILLED, SECOND)
    _wait_for_staging(built.settings, KILLED, SECOND, job)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()

    _run_job(built.settings, KILLED, SECOND)  # what Airflow's retry, or a Clear, runs
    spark.catalog.refreshTable(built.builder.table(KILLED))
    assert _partition(spark, built, KILLED, SECOND) == clean
    assert _staged(built.settings) == []


def test_a_job_whose_spark_server_goes_away_fails_naming_it_and_runs_cleanly_once_it_is_back(
    spark: SparkSession, built: BuiltLake, unique: str
) -> None:
    """Its own server on another port, so that stopping it mid-build leaves the other tests' server alone."""
    port = _free_port()
    settings = built.settings.model_copy(
        update={
            "home": built.settings.home / "test-stacks" / unique,
            "spark_connect_port": port,
            "spark_remote": f"sc://127.0.0.1:{port}",
        }
    )
    server = SparkConnect(settings)
    remote = {"SLUICE_SPARK_REMOTE": f"sc://127.0.0.1:{port}"}
    clean = _partition(spark, built, KILLED, SECOND)
    try:
        server.launch()
        assert wait_until(server.healthy, timeout=server.start_timeout)
        job = _job(settings, KILLED, SECOND, **remote)
        _wait_for_staging(settings, KILLED, SECOND, job)
        server.process.stop()
        output, _ = job.communicate(timeout=120)
        assert job.returncode == 3, output[-3000:]
        assert f"the Spark Connect server at sc://127.0.0.1:{port} does not answer" in output
        assert "start it with `sluice up`" in output

        server.launch()  # what `sluice up` does for it
        assert wait_until(server.healthy, timeout=server.start_timeout)
        _run_job(settings, KILLED, SECOND, **remote)
    finally:
        server.process.stop()
        shutil.rmtree(settings.home, ignore_errors=True)
    spark.catalog.refreshTable(built.builder.table(KILLED))
    assert _partition(spark, built, KILLED, SECOND) == clean
    assert _staged(built.settings) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
