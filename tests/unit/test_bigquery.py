"""Publishing to BigQuery, contract-tested: the real google-cloud-bigquery client talks to a local stand-in for the
BigQuery REST API that records every request and answers as the API documents. The tests assert on what the client
sent: the load job's destination partition, disposition, format, partitioning, labels and id; the tables' schema and
descriptions (from the mart's YAML, read here with yaml.safe_load); and the uploaded Parquet's rows."""

from __future__ import annotations

import io
import itertools
import runpy
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pyarrow import fs

from sluice.marts.project import load_project
from sluice.orchestration.bigquery_dag import DAG_ID, bigquery_publish_dag, published_partitions
from sluice.serving import bigquery as bq
from sluice.settings import REPO_ROOT, Settings, load_settings
from tests.bigquery_fake import FakeBigQuery, Recorded, multipart, serve

PROJECT = "test-project"
MART = "mart_gmv_daily"
DAY = date(2026, 11, 19)
# The mapping, written out here rather than imported: the spec's types as BigQuery names them.
EXPECTED_TYPES = {
    "bigint": "INT64",
    "int": "INT64",
    "double": "FLOAT64",
    "string": "STRING",
    "boolean": "BOOL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
ROWS = [  # a hand-made partition of mart_gmv_daily (the files hold no dt: it is the folder's)
    {"region_id": 1, "category": "digital", "transactions": 3, "buyers": 2, "sellers": 2, "gmv": 290000,
     "avg_price": 96666.67, "free_transactions": 1, "discounted_transactions": 1, "listed_value": 300000,
     "discount_amount": 10000, "discount_rate": 0.0333},
    {"region_id": 0, "category": "unknown", "transactions": 1, "buyers": 1, "sellers": 1, "gmv": 8000,
     "avg_price": 8000.0, "free_transactions": 0, "discounted_transactions": 0, "listed_value": None,
     "discount_amount": None, "discount_rate": None},
]  # fmt: skip
ARROW = pa.schema([
    ("region_id", pa.int32()), ("category", pa.string()), ("transactions", pa.int64()), ("buyers", pa.int64()),
    ("sellers", pa.int64()), ("gmv", pa.int64()), ("avg_price", pa.float64()), ("free_transactions", pa.int64()),
    ("discounted_transactions", pa.int64()), ("listed_value", pa.int64()), ("discount_amount", pa.int64()),
    ("discount_rate", pa.float64()),
])  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakeBigQuery]:
    with serve() as state:
        yield state


# --- the lake, as a local folder behind the same pyarrow FileSystem interface as S3 -----------------------------------


def write_partition(root: Path, mart: str, day: date, rows: list[dict[str, Any]], files: int = 2) -> None:
    folder = root / "lake" / "marts" / mart / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        pq.write_table(pa.Table.from_pylist(rows[n::files], schema=ARROW), folder / f"part-{n:05d}.snappy.parquet")
    (folder / "_SUCCESS").write_bytes(b"")  # Hadoop's marker: not data


@pytest.fixture
def lake(tmp_path: Path) -> fs.FileSystem:
    write_partition(tmp_path, MART, DAY, ROWS)
    return fs.SubTreeFileSystem(str(tmp_path), fs.LocalFileSystem())


def settings_for(fake: FakeBigQuery, **overrides: Any) -> Settings:
    return load_settings(bigquery_project=PROJECT, bigquery_api_endpoint=fake.url, lake_bucket="lake", **overrides)


def spec_of(mart: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "marts" / "marts" / f"{mart}.yml").read_text())


def one_line(text: str) -> str:
    return " ".join(text.split())


def upload_metadata(request: Recorded) -> dict[str, Any]:
    return multipart(request.headers["content-type"], request.body)[0]


# --- the tests --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec_type", "bigquery_type"), EXPECTED_TYPES.items())
def test_each_column_type_has_its_bigquery_type(spec_type: str, bigquery_type: str) -> None:
    assert bq.bigquery_type(spec_type) == bigquery_type


def test_an_unmapped_type_is_named_in_the_error() -> None:
    with pytest.raises(bq.BigQueryError, match="'decimal'"):
        bq.bigquery_type("decimal")


def test_publish_creates_the_table_from_the_yaml_and_replaces_the_day_s_partition(
    fake: FakeBigQuery, lake: fs.FileSystem
) -> None:
    loaded = bq.publish(settings_for(fake), [MART], DAY, "manual__2026-11-20T00:05:00+00:00", filesystem=lake)

    assert [(x.mart, x.day, x.partition, x.rows) for x in loaded] == [
        (MART, DAY, f"{PROJECT}.sluice_marts.{MART}$20261119", 2)
    ]
    table_path = f"/bigquery/v2/projects/{PROJECT}/datasets/sluice_marts/tables"
    assert [(r.method, r.path) for r in fake.requests[:2]] == [("GET", f"{table_path}/{MART}"), ("POST", table_path)]
    created = fake.requests[1].json()
    spec = spec_of(MART)
    assert created["description"] == one_line(spec["description"])
    assert created["timePartitioning"] == {"type": "DAY", "field": "dt"}
    assert [(f["name"], f["type"], f["description"]) for f in created["schema"]["fields"]] == [
        (c["name"], EXPECTED_TYPES[c["type"]], one_line(c["description"])) for c in spec["columns"]
    ]

    (upload,) = fake.sent("POST", "/upload/")
    assert upload.query["uploadType"] == ["multipart"]
    job = upload_metadata(upload)
    load = job["configuration"]["load"]
    assert load["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "sluice_marts",
        "tableId": f"{MART}$20261119",
    }
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["sourceFormat"] == "PARQUET"
    assert load["timePartitioning"] == {"type": "DAY", "field": "dt"}
    assert job["configuration"]["labels"] == {
        "sluice_run": "manual__2026-11-20t00_05_00_00_00",
        "sluice_mart": MART,
        "sluice_dt": "20261119",
    }
    assert job["jobReference"]["location"] == "EU"
    assert job["jobReference"]["jobId"] == loaded[0].job_id
    uploaded = pq.read_table(io.BytesIO(fake.bodies[loaded[0].job_id]))
    expected = sorted(({**row, "dt": DAY} for row in ROWS), key=lambda row: row["region_id"])
    assert sorted(uploaded.to_pylist(), key=lambda row: row["region_id"]) == expected
    assert uploaded.column_names[-1] == "dt"

    assert bq.partition_rows(bq.client(settings_for(fake)), settings_for(fake), MART, DAY) == 2
    assert fake.requests[-1].path == f"{table_path}/{MART}$20261119"


def test_job_ids_are_the_same_for_the_same_inputs_and_differ_for_another_day(
    fake: FakeBigQuery, tmp_path: Path
) -> None:
    write_partition(tmp_path, MART, DAY, ROWS)
    write_partition(tmp_path, MART, date(2026, 11, 20), ROWS)
    lake = fs.SubTreeFileSystem(str(tmp_path), fs.LocalFileSystem())
    settings = settings_for(fake)
    first = bq.publish(settings, [MART], DAY, "run-1", filesystem=lake)[0].job_id
    fake.jobs.clear()  # as if BigQuery had forgotten the job: the client must send the same id again
    again = bq.publish(settings, [MART], DAY, "run-1", filesystem=lake)[0].job_id
    next_day = bq.publish(settings, [MART], date(2026, 11, 20), "run-1", filesystem=lake)[0].job_id
    other_run = bq.publish(settings, [MART], DAY, "run-2", filesystem=lake)[0].job_id
    assert first == again
    assert len({first, next_day, other_run}) == 3
    for job_id in (first, next_day, other_run):
        assert len(job_id) <= 1024
        assert job_id.replace("_", "").replace("-", "").isalnum()
    assert first.startswith(f"sluice_{MART}_20261119_")
    assert len(fake.sent("POST", "/tables")) == 1  # the table was created once, then found


def test_a_lost_response_is_retried_and_the_existing_job_is_used_not_loaded_twice(
    fake: FakeBigQuery, lake: fs.FileSystem
) -> None:
    fake.lose_next_job_response = True
    (loaded,) = bq.publish(settings_for(fake), [MART], DAY, "run-1", filesystem=lake)

    uploads = fake.sent("POST", "/upload/")
    assert len(uploads) == 2  # the client retried the 503
    assert upload_metadata(uploads[0])["jobReference"]["jobId"] == upload_metadata(uploads[1])["jobReference"]["jobId"]
    retried = next(n for n, r in enumerate(fake.requests) if r is uploads[1])
    after_conflict = fake.requests[retried + 1]
    assert (after_conflict.method, after_conflict.path) == (
        "GET",
        f"/bigquery/v2/projects/{PROJECT}/jobs/{loaded.job_id}",
    )
    assert after_conflict.query["location"] == ["EU"]
    assert list(fake.jobs) == [loaded.job_id]
    assert loaded.rows == 2


def test_a_failed_load_is_a_clear_error_and_a_retry_of_the_run_loads_under_the_next_job_id(
    fake: FakeBigQuery, lake: fs.FileSystem
) -> None:
    fake.fail_loads = True
    with pytest.raises(bq.BigQueryError, match=r"load job sluice_mart_gmv_daily_20261119_\w+ into .*failed: .*bad"):
        bq.publish(settings_for(fake), [MART], DAY, "run-1", filesystem=lake)
    (failed,) = fake.jobs

    fake.fail_loads = False  # the cause is fixed; the task is retried (or cleared): the same run id
    (loaded,) = bq.publish(settings_for(fake), [MART], DAY, "run-1", filesystem=lake)
    assert list(fake.jobs) == [failed, f"{failed}_1"]
    assert (loaded.job_id, loaded.rows) == (f"{failed}_1", 2)
    assert fake.partitions == {(MART, "20261119"): 2}


def test_a_changed_description_updates_the_table(fake: FakeBigQuery, lake: fs.FileSystem) -> None:
    settings = settings_for(fake)
    bq.publish(settings, [MART], DAY, "run-1", filesystem=lake)
    fake.tables[MART]["description"] = "an older text"
    bq.publish(settings, [MART], DAY, "run-2", filesystem=lake)
    (patch,) = fake.sent("PATCH")
    assert patch.json()["description"] == one_line(spec_of(MART)["description"])


def test_a_missing_partition_fails_before_anything_loads(fake: FakeBigQuery, lake: fs.FileSystem) -> None:
    with pytest.raises(bq.BigQueryError, match=r"mart_active_users has no Parquet files for dt=2026-11-19"):
        bq.publish(settings_for(fake), [MART, "mart_active_users"], DAY, "run-1", filesystem=lake)
    assert fake.requests == []


def test_unknown_marts_are_named_with_the_valid_ones(fake: FakeBigQuery, lake: fs.FileSystem) -> None:
    with pytest.raises(bq.BigQueryError, match=r"not marts of the project: mart_nope, stg_listings .*mart_gmv_daily"):
        bq.publish(settings_for(fake), ["mart_nope", "stg_listings"], DAY, "run-1", filesystem=lake)


def test_publishing_is_off_without_a_project(lake: fs.FileSystem) -> None:
    with pytest.raises(bq.BigQueryError, match="SLUICE_BIGQUERY_PROJECT"):
        bq.publish(load_settings(bigquery_project=None), [MART], DAY, "run-1", filesystem=lake)


def test_the_cost_guard_refuses_a_query_over_the_limit_without_running_it(fake: FakeBigQuery) -> None:
    settings = settings_for(fake, bigquery_max_query_bytes=1_000_000)
    fake.dry_run_bytes = 5_000_000
    with pytest.raises(bq.QueryTooExpensive, match=r"5,000,000 bytes.*limit of 1,000,000 bytes.*MAX_QUERY_BYTES"):
        bq.guarded_query(bq.client(settings), settings, "select count(*) as n from sluice_marts.mart_gmv_daily")
    (dry,) = fake.sent("POST", "/jobs")
    assert dry.json()["configuration"]["dryRun"] is True
    assert dry.json()["configuration"]["query"]["useQueryCache"] is False


def test_the_cost_guard_runs_a_query_within_the_limit(fake: FakeBigQuery) -> None:
    settings = settings_for(fake, bigquery_max_query_bytes=1_000_000)
    fake.dry_run_bytes = 1_000_000
    rows = bq.guarded_query(bq.client(settings), settings, "select count(*) as n from sluice_marts.mart_gmv_daily")
    assert [row["n"] for row in rows] == [42]
    dry, real = (r.json()["configuration"] for r in fake.sent("POST", "/jobs"))
    assert dry["dryRun"] is True
    assert not real.get("dryRun")
    assert real["query"]["maximumBytesBilled"] == "1000000"


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("scheduled__2026-11-19T00:00:00+00:00", "scheduled__2026-11-19t00_00_00_00_00"),
        ("Asset_Triggered/Ü", "asset_triggered__"),
    ],
)
def test_label_values_are_lower_case_letters_digits_and_dashes(run_id: str, expected: str) -> None:
    assert bq.label_value(run_id) == expected


def test_a_long_label_value_is_cut_to_63_characters_and_stays_distinct() -> None:
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    assert len(bq.label_value(long_a)) == 63
    assert bq.label_value(long_a) != bq.label_value(long_b)
    assert set(bq.label_value(long_a)) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


# --- the DAG ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", [None, ""])
def test_the_dag_is_off_and_says_so_without_a_project(project: str | None) -> None:
    dag = bigquery_publish_dag(load_project(), load_settings(bigquery_project=project))
    assert dag.dag_id == DAG_ID
    assert dag.timetable.asset_condition is None  # type: ignore[attr-defined]
    assert not dag.is_paused_upon_creation  # switched on later, it runs without anyone unpausing it
    assert "SLUICE_BIGQUERY_PROJECT" in (dag.description or "")


def test_the_dag_runs_when_a_chosen_mart_is_published(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_BIGQUERY_PROJECT", PROJECT)
    monkeypatch.setenv("SLUICE_BIGQUERY_MARTS", '["mart_gmv_daily", "mart_active_users"]')
    dag = runpy.run_path(str(REPO_ROOT / "dags" / "sluice_bigquery_publish.py"))["dag"]
    names = {asset.name for asset in dag.timetable.asset_condition.objects}
    assert names == {"sluice.mart_gmv_daily", "sluice.mart_active_users"}
    assert not dag.is_paused_upon_creation


def test_an_unknown_mart_in_settings_fails_the_dag_naming_it() -> None:
    with pytest.raises(bq.BigQueryError, match="mart_nope"):
        bigquery_publish_dag(load_project(), load_settings(bigquery_project=PROJECT, bigquery_marts=("mart_nope",)))


def test_events_are_grouped_by_the_source_run_s_bucket_and_day() -> None:
    from datetime import UTC, datetime

    from airflow.sdk.api.datamodels._generated import DagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult

    ids = itertools.count()

    def event(mart: str, conf: dict[str, Any] | None, interval: datetime) -> AssetEventDagRunReferenceResult:
        run_id = f"run{next(ids)}"
        result = AssetEventDagRunReferenceResult(
            asset={"name": f"sluice.{mart}", "uri": f"s3://lake/marts/{mart}", "extra": {}},
            extra={}, source_task_id=mart, source_dag_id="sluice_marts", source_run_id=run_id, source_map_index=-1,
            source_aliases=[], timestamp=interval,
        )  # fmt: skip
        run = DagRun(
            dag_id="sluice_marts", run_id=run_id, logical_date=interval, data_interval_start=interval,
            data_interval_end=interval, run_after=interval, start_date=interval, end_date=None, run_type="scheduled",
            state="success", conf=conf, consumed_asset_events=[], partition_key=None,
        )  # fmt: skip
        result.__dict__["source_dag_run"] = run  # what the cached property would fetch from the API server
        return result

    nov19, nov20 = datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    events = [
        event("mart_gmv_daily", None, nov19),
        event("mart_active_users", {"ds": None, "lake_bucket": "lake"}, nov19),
        event("mart_gmv_daily", {"ds": "2026-11-01", "lake_bucket": "test-lake"}, nov20),
        event("mart_funnel_daily", None, nov20),  # not chosen
    ]
    assert published_partitions(events, "lake", ["mart_gmv_daily", "mart_active_users"]) == {
        ("lake", date(2026, 11, 19)): {"mart_gmv_daily", "mart_active_users"},
        ("test-lake", date(2026, 11, 1)): {"mart_gmv_daily"},
    }
