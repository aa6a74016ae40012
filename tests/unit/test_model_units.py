"""Every model's hand-written unit tests (the `unit_tests` of its YAML), run on a small local Spark.

The given rows become the upstream tables, the model's SQL runs for the test's date, and the result must equal
the expected rows as a multiset, compared on the columns the expected rows name.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from sluice.marts.project import Model, Project, load_project
from sluice.marts.spec import UnitTest
from sluice.settings import load_settings
from sluice.spark import classic_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PROJECT = load_project()
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
