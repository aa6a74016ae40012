"""Every model's hand-written unit tests (the `unit_tests` of its YAML), run on a small local Spark.

The given rows become the upstream tables, the model's SQL runs for the test's date, and the result must equal
the expected rows as a multiset, compared on the columns the expected rows name. Last, the speed track's totals on
hand-made records against its batch marts' on the same records.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from ingestion.contract import load_contract
from sluice.marts.project import Model, Project, load_project
from sluice.marts.spec import UnitTest
from sluice.settings import load_settings
from sluice.spark import classic_session
from sluice.speed import FAMILIES, Family
from spark_jobs.speed_events import parse_batch
from spark_jobs.speed_track import AGGREGATIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PROJECT = load_project()
CONTRACT = load_contract()
SOURCE_TYPES = {
    "event_id": "string", "event_type": "string", "event_time": "timestamp", "value": "string",
    "kafka_key": "binary", "kafka_partition": "int", "kafka_offset": "bigint", "kafka_timestamp": "timestamp",
    "ingested_at": "timestamp", "dt": "date", "hr": "int",
}  # fmt: skip
CASES = [
    pytest.param(model, unit, id=f"{model.name}: {unit.name}")
    for model in PROJECT.models.values()
    for unit in model.spec.unit_tests
]


@pytest.fixture(scope="module")
def local_spark() -> Iterator[SparkSession]:
    os.environ["TZ"] = "UTC"  # collect() turns timestamps into naive datetimes in the process's time zone
    time.tzset()
    # A classic session in this process, on temp views only: no stack needed.
    session = classic_session(load_settings(spark_master="local[1]", spark_shuffle_partitions=1), catalog=False)
    yield session
    session.stop()


def test_every_model_has_unit_tests() -> None:
    assert [name for name, model in PROJECT.models.items() if not model.spec.unit_tests] == []


@pytest.mark.parametrize(("model", "unit"), CASES)
def test_unit(local_spark: SparkSession, model: Model, unit: UnitTest) -> None:
    for table in model.upstream | {model.name}:
        _given(local_spark, PROJECT, table, unit.given.get(table, ())).createOrReplaceTempView(table)
    rows = local_spark.sql(model.render(unit.ds)).collect()
    compared = sorted({key for row in unit.expect for key in row})
    actual = Counter(_key(row.asDict(), compared) for row in rows)
    expected = Counter(_key(row, compared) for row in unit.expect)
    assert actual == expected, f"missing: {expected - actual}\nunexpected: {actual - expected}"


def _given(spark: SparkSession, project: Project, table: str, rows: tuple[dict[str, Any], ...]) -> DataFrame:
    types = SOURCE_TYPES if table in project.sources else {c.name: c.type for c in project.table(table).spec.columns}
    schema = ", ".join(f"`{name}` {kind}" for name, kind in types.items())
    data = [tuple(_coerce(row.get(name), kind) for name, kind in types.items()) for row in rows]
    return spark.createDataFrame(data, schema)


def _coerce(value: Any, kind: str) -> Any:
    """YAML gives dates and timestamps as objects or strings; Spark wants them typed."""
    if value is None:
        return None
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind == "binary":
        return str(value).encode()
    if kind == "double":
        return float(value)
    return value


def _key(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(_comparable(row.get(name)) for name in columns)


def _comparable(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        return None if math.isnan(value) else round(float(value), 4)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-":  # a date or timestamp written quoted
        try:
            return _comparable(datetime.fromisoformat(value)) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            return value
    return value


# The speed track and the batch track, on the same hand-made records: the speed side's totals for a day must equal
# the marts', so that a published day replaces its speed rows without a jump. Records are JSON as the app sends them;
# the batch side goes raw zone → staging → mart, the speed side through the speed track's parser and aggregation.
AGREEMENT_DAY = date(2026, 11, 10)


def _sent(event_id: str, event_type: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": event_type, "event_time": f"2026-11-10T{at}:00+09:00",
            "schema_version": 1, **fields}  # fmt: skip


AGREEMENT_EVENTS = [
    _sent("l1", "listing_created", "18:10", listing_id=1, seller_id=10, region_id=3, category="digital",
          title="phone", price=5000),
    _sent("l2", "listing_created", "18:40", listing_id=2, seller_id=11, region_id=3, category="digital",
          title="tablet", price=0),
    _sent("l3", "listing_created", "19:05", listing_id=3, seller_id=11, region_id=4, category="books",
          title="novel", price=7000),
    _sent("v1", "listing_viewed", "18:20", listing_id=1, user_id=20),
    _sent("v1", "listing_viewed", "18:20", listing_id=1, user_id=20),  # a producer retry: the same event again
    _sent("v2", "listing_viewed", "18:59", listing_id=2, user_id=21),
    _sent("s1", "search_performed", "19:00", search_id="q1", user_id=21, query="phone"),
    _sent("c1", "chat_started", "18:30", chat_id=1, listing_id=1, buyer_id=20, seller_id=10),
    _sent("m1", "message_sent", "18:31", chat_id=1, sender_id=10, length=5),
    _sent("r1", "reservation_made", "19:05", listing_id=1, buyer_id=20, seller_id=10, chat_id=1),
    _sent("t1", "transaction_completed", "19:30", transaction_id=1, listing_id=1, buyer_id=20, seller_id=10,
          price=4500),
    _sent("t2", "transaction_completed", "19:40", transaction_id=2, listing_id=9, buyer_id=21, seller_id=12,
          price=1000),  # seller 12 does nothing else: active as the other side of a sale
    _sent("u1", "user_signed_up", "19:01", user_id=22, region_id=3),
    _sent("p1", "report_filed", "08:00", report_id=1, listing_id=2, reporter_id=23, reason="spam"),
    _sent("d1", "moderation_decided", "08:30", listing_id=2, label="spam"),
]  # fmt: skip


def _raw_zone(spark: SparkSession, project: Project, source: str) -> DataFrame:
    topic = project.sources[source].topic
    rows = []
    for offset, event in enumerate(AGREEMENT_EVENTS):
        if project_topic(event["event_type"]) != topic:
            continue
        at = datetime.fromisoformat(event["event_time"]).astimezone(UTC)
        rows.append({"event_id": event["event_id"], "event_type": event["event_type"], "event_time": at,
                     "value": json.dumps(event), "kafka_partition": 0, "kafka_offset": offset,
                     "dt": at.date(), "hr": at.hour})  # fmt: skip
    return _given(spark, project, source, tuple(rows))


def project_topic(event_type: str) -> str:
    return CONTRACT.events[event_type].topic


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_speed_track_counts_a_day_as_its_batch_mart_does(local_spark: SparkSession, family: Family) -> None:
    from pyspark.sql import functions as F

    mart = PROJECT.model(family.mart)
    for source in PROJECT.sources:
        _raw_zone(local_spark, PROJECT, source).createOrReplaceTempView(source)
    for name in PROJECT.select([mart.name], upstream=True):
        local_spark.sql(PROJECT.model(name).render(AGREEMENT_DAY)).createOrReplaceTempView(name)
    batch = {tuple(row) for row in local_spark.table(mart.name).select(*sorted(mart.columns)).collect()}

    records = pa.RecordBatch.from_pydict({"topic": [project_topic(e["event_type"]) for e in AGREEMENT_EVENTS],
                                          "value": [json.dumps(e).encode() for e in AGREEMENT_EVENTS]})  # fmt: skip
    parsed = local_spark.createDataFrame(pa.Table.from_batches([parse_batch(CONTRACT, records)]))
    events = parsed.where(F.col("valid") & F.col("event_type").isin(*family.event_types)).dropDuplicates(["event_id"])
    totals = AGGREGATIONS[family.name](events.drop("valid"))
    speed = {tuple(row) for row in totals.where(F.col("dt") == AGREEMENT_DAY).select(*sorted(mart.columns)).collect()}
    assert batch, "the hand-made events give the mart rows"
    assert speed == batch
