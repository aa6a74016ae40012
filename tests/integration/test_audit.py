"""`sluice audit` on the demo's built day: a clean day reconciles from the Kafka offsets to the marts, and each kind
of damage (a raw object lost, a raw object stored twice, a mart total off) fails the audit naming its link."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from sluice import lake
from sluice.objectstore import list_objects, s3_client
from sluice.orchestration.client import AirflowClient
from sluice.orchestration.marts_dag import AUDIT_TASK, DAG_ID
from sluice.serving.bigquery import publish
from tests.bigquery_fake import serve
from tests.integration.conftest import RUN_TIMEOUT_S, SLUICE, DemoRun

pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 600)  # the shared demo may run first, here
TOPIC = "marketplace.transactions"


def audit(demo: DemoRun, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SLUICE_LAKE_BUCKET": demo.settings.lake_bucket,
        "SLUICE_INGEST_GROUP": demo.settings.ingest_group,
        **extra_env,
    }
    return subprocess.run(
        [SLUICE, "audit", "--date", str(demo.day)], capture_output=True, text=True, check=False, env=env, timeout=300
    )


def row(table: str, link: str, subject: str) -> tuple[int, int, str]:
    """(expected, found, ok) of one line of the printed table."""
    match = re.search(rf"^{link}\s+{re.escape(subject)}\s+(\d+)\s+(\d+)\s+(yes|NO)", table, re.MULTILINE)
    assert match, f"no {link} {subject} line in:\n{table}"
    return int(match[1]), int(match[2]), match[3]


def test_a_clean_day_reconciles_from_kafka_to_the_marts(demo: DemoRun, spark: SparkSession) -> None:
    result = audit(demo)
    assert result.returncode == 0, result.stdout + result.stderr
    schema, day = demo.settings.marts_schema, demo.day
    gmv, sales = spark.sql(
        f"select sum(gmv), sum(transactions) from {schema}.mart_gmv_daily where dt = date'{day}'"
    ).first()  # type: ignore[misc]
    staged = spark.sql(f"select count(*), sum(price) from {schema}.stg_transactions where dt = date'{day}'").first()
    assert staged is not None
    assert (staged[0], staged[1]) == (sales, gmv)
    assert row(result.stdout, "marts", "mart_gmv_daily.gmv") == (gmv, gmv, "yes")
    assert row(result.stdout, "marts", "mart_gmv_daily.transactions") == (sales, sales, "yes")
    raw_rows = spark.read.parquet(f"{demo.settings.lake_uri}/{lake.raw_day_prefix(TOPIC, day)}").count()
    assert row(result.stdout, "raw", TOPIC) == (raw_rows, raw_rows, "yes")
    assert "reconciled: all" in result.stdout
    # The marts run audited the same day as its last step before the success summary.
    states = {ti["task_id"]: ti["state"] for ti in AirflowClient(demo.settings).task_instances(DAG_ID, demo.run_id)}
    assert states[AUDIT_TASK] == "success"


@contextmanager
def restored(demo: DemoRun, key: str) -> Iterator[bytes]:
    """The object's bytes; whatever the test does to the key, the object is put back afterwards."""
    s3 = s3_client(demo.settings)
    body = s3.get_object(Bucket=demo.settings.lake_bucket, Key=key)["Body"].read()
    try:
        yield body
    finally:
        s3.put_object(Bucket=demo.settings.lake_bucket, Key=key, Body=body)


def raw_object(demo: DemoRun) -> str:
    keys = [item["Key"] for item in list_objects(s3_client(demo.settings), demo.settings.lake_bucket,
                                                  lake.raw_day_prefix(TOPIC, demo.day))]  # fmt: skip
    return next(key for key in sorted(keys) if key.endswith(".parquet"))


def test_a_lost_raw_object_is_named_at_the_markers_link(demo: DemoRun) -> None:
    key = raw_object(demo)
    with restored(demo, key):
        s3_client(demo.settings).delete_object(Bucket=demo.settings.lake_bucket, Key=key)
        result = audit(demo)
    assert result.returncode == 1
    assert f"FAILED at markers ({TOPIC}): 1 object(s) the markers list are not in the raw zone, e.g. {key}" in (
        result.stdout
    )


def test_a_raw_object_stored_twice_is_named_at_the_markers_link(demo: DemoRun) -> None:
    key = raw_object(demo)
    copy = key.removesuffix(".parquet") + "-copy.parquet"  # a sink object or, after compaction, the hour's one
    s3 = s3_client(demo.settings)
    s3.copy_object(Bucket=demo.settings.lake_bucket, Key=copy, CopySource={"Bucket": demo.settings.lake_bucket,
                                                                             "Key": key})  # fmt: skip
    try:
        result = audit(demo)
    finally:
        s3.delete_object(Bucket=demo.settings.lake_bucket, Key=copy)
    assert result.returncode == 1
    assert f"FAILED at markers ({TOPIC}): 1 object(s) in the raw zone no marker lists, e.g. {copy}" in result.stdout
    rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=demo.settings.lake_bucket, Key=key)["Body"].read()))
    expected, found, ok = row(result.stdout, "raw", TOPIC)
    assert (found - expected, ok) == (rows.num_rows, "NO")  # the copy's records, each now stored twice


def test_a_mart_total_that_staging_does_not_support_is_named_at_the_marts_link(demo: DemoRun) -> None:
    """A part file with one more sale of 1,000 KRW appears in the GMV mart's partition (not in the catalog's
    listing the SQL endpoint may hold, so analysts' queries are unaffected meanwhile)."""
    prefix = lake.partition_prefix("marts", "mart_gmv_daily", demo.day)
    s3, key = s3_client(demo.settings), f"{prefix}part-audit-test.parquet"
    existing = next(
        i["Key"] for i in list_objects(s3, demo.settings.lake_bucket, prefix) if i["Key"].endswith(".parquet")
    )
    schema = pq.read_schema(io.BytesIO(s3.get_object(Bucket=demo.settings.lake_bucket, Key=existing)["Body"].read()))
    extra = {name: [None] for name in schema.names} | {"region_id": [1], "category": ["books"], "transactions": [1],
                                                       "gmv": [1000]}  # fmt: skip
    body = io.BytesIO()
    pq.write_table(pa.table(extra, schema=schema), body)
    s3.put_object(Bucket=demo.settings.lake_bucket, Key=key, Body=body.getvalue())
    try:
        result = audit(demo)
    finally:
        s3.delete_object(Bucket=demo.settings.lake_bucket, Key=key)
    assert result.returncode == 1
    assert "FAILED at marts (mart_gmv_daily.transactions): rows of stg_transactions" in result.stdout
    expected, found, ok = row(result.stdout, "marts", "mart_gmv_daily.gmv")
    assert (found - expected, ok) == (1000, "NO")
    assert "does not reconcile at marts (mart_gmv_daily.transactions)" in result.stderr


def test_the_warehouse_copy_is_the_last_link_and_a_partition_short_of_rows_is_named(demo: DemoRun) -> None:
    """The demo day's marts published from the real lake (pyarrow over S3) into the BigQuery stand-in; the audit
    reads each partition's row count back from BigQuery's table metadata."""
    marts = ["mart_gmv_daily", "mart_marketplace_kpis"]
    with serve() as bigquery:
        on = {"SLUICE_BIGQUERY_PROJECT": "audit-test", "SLUICE_BIGQUERY_API_ENDPOINT": bigquery.url,
              "SLUICE_BIGQUERY_MARTS": json.dumps(marts)}  # fmt: skip
        settings = demo.settings.model_copy(
            update={"bigquery_project": "audit-test", "bigquery_api_endpoint": bigquery.url}
        )
        publish(settings, marts, demo.day, "audit-test-run")
        result = audit(demo, **on)
        assert result.returncode == 0, result.stdout + result.stderr
        lake_rows = {
            mart: sum(pq.read_metadata(io.BytesIO(body)).num_rows for body in partition_files(demo, mart))
            for mart in marts
        }
        assert {mart: row(result.stdout, "bigquery", mart) for mart in marts} == {
            mart: (rows, rows, "yes") for mart, rows in lake_rows.items()
        }
        assert all(rows > 0 for rows in lake_rows.values())

        bigquery.partitions[("mart_gmv_daily", f"{demo.day:%Y%m%d}")] -= 1  # a partition short of one row
        result = audit(demo, **on)
    assert result.returncode == 1
    assert f"FAILED at bigquery (mart_gmv_daily): rows of audit-test.sluice_marts.mart_gmv_daily${demo.day:%Y%m%d}" in (
        result.stdout
    )


def partition_files(demo: DemoRun, mart: str) -> list[bytes]:
    s3, bucket = s3_client(demo.settings), demo.settings.lake_bucket
    prefix = lake.partition_prefix("marts", mart, demo.day)
    keys = [i["Key"] for i in list_objects(s3, bucket, prefix) if i["Key"].endswith(".parquet")]
    return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]
