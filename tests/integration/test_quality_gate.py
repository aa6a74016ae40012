"""The quality gate on real Spark frames: which checks fail, with which counts and rows; the report in S3."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from sluice.marts.quality import FAILED_CHECKS, GateResult, validate, write_report
from sluice.marts.spec import ModelSpec
from sluice.objectstore import s3_client
from sluice.settings import Settings

DS = date(2026, 11, 20)
SCHEMA = "listing_id bigint, category string, price bigint, seller_id bigint, event_time timestamp, dt date"
ON_TIME = datetime(2026, 11, 20, 18)  # exactly 6 hours before the end of the day: still fresh


def model(users: str, row_count: dict[str, int] | None = None) -> ModelSpec:
    return ModelSpec.model_validate({
        "description": "one row per listing",
        "grain": "one row per listing per day",
        "owner": "marketplace-analytics",
        "columns": [
            {"name": "listing_id", "type": "bigint", "description": "the listing", "tests": ["not_null", "unique"]},
            {"name": "category", "type": "string", "description": "its category",
             "tests": [{"accepted_values": {"values": ["digital", "furniture"]}}]},
            {"name": "price", "type": "bigint", "description": "cents", "tests": [{"accepted_range": {"min": 0}}]},
            {"name": "seller_id", "type": "bigint", "description": "the seller",
             "tests": [{"relationships": {"to": users, "field": "user_id"}}]},
            {"name": "event_time", "type": "timestamp", "description": "when"},
            {"name": "dt", "type": "date", "description": "partition date (UTC)"},
        ],
        "tests": [
            {"unique_combination": {"columns": ["listing_id", "dt"]}},
            {"row_count": row_count or {"min": 1, "max": 100}},
            {"freshness": {"column": "event_time", "max_delay_hours": 6}},
        ],
    })  # fmt: skip


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame([(*row, DS) for row in rows], SCHEMA)


@pytest.fixture(scope="module")
def users(spark: SparkSession) -> str:
    """A dim_users stand-in: users 10-12 in the partition dt=DS; user 13 only in the day before."""
    name = f"users_{uuid.uuid4().hex[:8]}"
    rows = [(10, DS), (11, DS), (12, DS), (13, date(2026, 11, 19))]
    spark.createDataFrame(rows, "user_id bigint, dt date").createOrReplaceTempView(name)
    return name


@pytest.fixture(scope="module")
def broken(spark: SparkSession, users: str) -> tuple[DataFrame, GateResult]:
    df = frame(spark, [
        (None, "digital", 100, 10, ON_TIME),  # null key
        (2, "furniture", -5, 11, ON_TIME),  # negative price
        (3, "digital", 300, 12, ON_TIME),  # duplicate of the next
        (3, "toys", 300, 12, ON_TIME),  # duplicate, unknown category
        (5, "digital", 500, 13, ON_TIME),  # seller only in yesterday's users
        (6, "furniture", 600, None, ON_TIME),  # no seller: nothing to relate
        (7, "digital", 700, 10, ON_TIME),
    ])  # fmt: skip
    return df, validate(spark, df, "stg_listings", model(users), DS)


def failed(gate: GateResult) -> dict[str, int | None]:
    return {check.test: check.unexpected_count for check in gate.checks if not check.success}


def test_a_clean_partition_passes(spark: SparkSession, users: str) -> None:
    df = frame(spark, [(1, "digital", 0, 10, ON_TIME), (2, "furniture", 10, None, datetime(2026, 11, 20, 1))])

    gate = validate(spark, df, "stg_listings", model(users), DS)

    assert gate.success, gate.summary()
    assert [check.test for check in gate.checks] == [
        "not_null(listing_id)", "unique(listing_id)", "accepted_values(category)", "accepted_range(price >= 0)",
        f"relationships(seller_id -> {users}.user_id)", "unique_combination(listing_id, dt)", "row_count(1..100)",
        "freshness(event_time within 6h)",
    ]  # fmt: skip
    assert all(check.success for check in gate.checks)
    assert gate.failing_rows is None
    assert gate.summary() == "stg_listings dt=2026-11-20: all 8 checks passed"
    assert gate.result["success"] is True
    assert gate.result["statistics"]["evaluated_expectations"] == 8


def test_a_broken_partition_fails_exactly_the_broken_checks(broken: tuple[DataFrame, GateResult], users: str) -> None:
    _, gate = broken

    assert not gate.success
    assert failed(gate) == {
        "not_null(listing_id)": 1,
        "unique(listing_id)": 2,
        "accepted_values(category)": 1,
        "accepted_range(price >= 0)": 1,
        f"relationships(seller_id -> {users}.user_id)": 1,
        "unique_combination(listing_id, dt)": 2,
    }
    assert {check.test: check.observed for check in gate.checks if check.success} == {
        "row_count(1..100)": "7",
        "freshness(event_time within 6h)": "2026-11-20T18:00:00",
    }
    assert gate.summary() == (
        "stg_listings dt=2026-11-20: 6 of 8 checks failed: not_null(listing_id) 1 row; unique(listing_id) 2 rows "
        "(e.g. 3); accepted_values(category) 1 row (e.g. 'toys'); accepted_range(price >= 0) 1 row (e.g. -5); "
        f"relationships(seller_id -> {users}.user_id) 1 row; unique_combination(listing_id, dt) 2 rows "
        "(e.g. [3, '2026-11-20'])"
    )


def test_the_result_is_json_and_names_each_yaml_test(broken: tuple[DataFrame, GateResult]) -> None:
    _, gate = broken
    result = json.loads(json.dumps(gate.result))

    assert result["success"] is False
    assert result["suite_name"] == "stg_listings"
    assert result["meta"]["run_id"]["run_name"] == "dt=2026-11-20"
    failing = {r["expectation_config"]["meta"]["test"] for r in result["results"] if not r["success"]}
    assert failing == set(failed(gate))


def test_failing_rows_are_the_rows_that_broke_row_level_checks(
    broken: tuple[DataFrame, GateResult], users: str
) -> None:
    df, gate = broken
    rows = gate.failing_rows
    assert rows is not None

    assert rows.columns == [*df.columns, FAILED_CHECKS]
    assert rows.schema[FAILED_CHECKS].dataType.simpleString() == "array<string>"
    got = sorted((row.listing_id or 0, row.category, row.price, tuple(row[FAILED_CHECKS])) for row in rows.collect())
    assert got == [
        (0, "digital", 100, ("not_null(listing_id)",)),
        (2, "furniture", -5, ("accepted_range(price >= 0)",)),
        (3, "digital", 300, ("unique(listing_id)", "unique_combination(listing_id, dt)")),
        (3, "toys", 300, ("unique(listing_id)", "accepted_values(category)", "unique_combination(listing_id, dt)")),
        (5, "digital", 500, (f"relationships(seller_id -> {users}.user_id)",)),
    ]


def test_failing_rows_agree_with_the_unexpected_counts_of_great_expectations(
    broken: tuple[DataFrame, GateResult],
) -> None:
    _, gate = broken
    assert gate.failing_rows is not None
    per_check: dict[str, int] = {}
    for row in gate.failing_rows.collect():
        for check in row[FAILED_CHECKS]:
            per_check[check] = per_check.get(check, 0) + 1
    assert per_check == failed(gate)


def test_a_stale_or_oversized_partition_fails_freshness_and_row_count(spark: SparkSession, users: str) -> None:
    stale = datetime(2026, 11, 20, 17, 59, 59)  # one second older than 6 h before the end of the day
    df = frame(spark, [(1, "digital", 1, 10, stale), (2, "digital", 2, 10, stale), (3, "digital", 3, 11, None)])

    gate = validate(spark, df, "stg_listings", model(users, row_count={"min": 1, "max": 2}), DS)

    assert not gate.success
    assert {check.test: check.observed for check in gate.checks if not check.success} == {
        "row_count(1..2)": "3",
        "freshness(event_time within 6h)": "2026-11-20T17:59:59",
    }
    assert gate.failing_rows is None  # no row-level check failed
    assert gate.summary() == (
        "stg_listings dt=2026-11-20: 2 of 8 checks failed: row_count(1..2) observed 3; "
        "freshness(event_time within 6h) observed 2026-11-20T17:59:59"
    )


def test_an_empty_partition_fails_row_count_and_freshness(spark: SparkSession, users: str) -> None:
    gate = validate(spark, frame(spark, []), "stg_listings", model(users), DS)

    assert {check.test for check in gate.checks if not check.success} == {
        "row_count(1..100)",
        "freshness(event_time within 6h)",
    }
    assert gate.failing_rows is None


def test_a_missing_related_table_fails_its_check_with_the_error(spark: SparkSession) -> None:
    df = frame(spark, [(1, "digital", 1, 10, ON_TIME)])

    gate = validate(spark, df, "stg_listings", model("no_such_table"), DS)

    (check,) = [check for check in gate.checks if not check.success]
    assert check.test == "relationships(seller_id -> no_such_table.user_id)"
    assert check.unexpected_count is None
    assert check.observed is not None
    assert check.observed.startswith("error: [TABLE_OR_VIEW_NOT_FOUND]")
    assert gate.failing_rows is None


def test_the_report_lands_in_s3_with_data_docs(broken: tuple[DataFrame, GateResult], lake: Settings) -> None:
    _, gate = broken

    report = write_report(gate, lake, "manual__2026-11-21T03:00:00")

    s3, bucket = s3_client(lake), lake.lake_bucket
    key = "quality/results/stg_listings/dt=2026-11-20/manual__2026-11-21T03:00:00.json"
    assert report.result_uri == f"s3://{bucket}/{key}"
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == json.loads(json.dumps(gate.result))
    assert report.docs_uri == f"s3://{bucket}/quality/docs/index.html"
    index = s3.get_object(Bucket=bucket, Key="quality/docs/index.html")
    assert index["ContentType"] == "text/html"
    assert "stg_listings" in index["Body"].read().decode()
    docs = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quality/docs/", MaxKeys=1000)["Contents"]]
    (page,) = [k for k in docs if k.startswith("quality/docs/validations/stg_listings/dt=2026-11-20/")]
    html = s3.get_object(Bucket=bucket, Key=page)["Body"].read().decode()
    assert "Failed" in html
    assert "toys" in html
    assert "quality/docs/expectations/stg_listings.html" in docs
    assert "quality/docs/static/styles/data_docs_default_styles.css" in docs
