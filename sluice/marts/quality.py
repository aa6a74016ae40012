"""The quality gate: a model's YAML tests as a Great Expectations suite, run on a staged Spark partition.

`expectation_suite` turns the tests into expectations, each with `meta.test` naming the test in YAML terms
(`not_null(listing_id)`). `validate` runs them on a DataFrame and returns a `GateResult`: an outcome per test, GE's
result, a one-line summary, and the rows that broke row-level tests. `write_report` publishes the result JSON and
GE Data Docs to the lake bucket.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import operator
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import great_expectations as gx
from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
from great_expectations.core.result_format import ResultFormat
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations.core.expect_column_max_to_be_between import ExpectColumnMaxToBeBetween
from great_expectations.expectations.core.expect_column_values_to_be_between import ExpectColumnValuesToBeBetween
from great_expectations.expectations.core.expect_column_values_to_be_in_set import ExpectColumnValuesToBeInSet
from great_expectations.expectations.core.expect_column_values_to_be_unique import ExpectColumnValuesToBeUnique
from great_expectations.expectations.core.expect_column_values_to_not_be_null import ExpectColumnValuesToNotBeNull
from great_expectations.expectations.core.expect_compound_columns_to_be_unique import ExpectCompoundColumnsToBeUnique
from great_expectations.expectations.core.expect_table_row_count_to_be_between import ExpectTableRowCountToBeBetween
from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation
from great_expectations.expectations.expectation import Expectation
from pyspark.sql import Window
from pyspark.sql import functions as F

from sluice import lake
from sluice.marts.spec import ColumnTest, ModelSpec, TableTest
from sluice.objectstore import S3Client, list_objects, s3_client
from sluice.settings import Settings

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext
    from pyspark.sql import Column, DataFrame, SparkSession

FAILED_CHECKS = "_failed_checks"
RESULT_FORMAT = ResultFormat.SUMMARY  # counts and up to 20 example values per check; COMPLETE lists every one

# Marks the rows of a frame that break a row-level test; may join helper columns (named after `tag`) onto it.
Violation = Callable[["DataFrame", str], tuple["DataFrame", "Column"]]


@dataclass(frozen=True)
class CheckOutcome:
    test: str  # the YAML test: not_null(listing_id)
    expectation: str  # GE's expectation type: expect_column_values_to_not_be_null
    success: bool
    unexpected_count: int | None  # rows that broke a row-level test; None for table-level tests and errors
    observed: str | None  # a few unexpected values, the observed value, or the error GE caught

    def describe(self) -> str:
        if self.unexpected_count is not None:
            rows = f"{self.unexpected_count} row{'' if self.unexpected_count == 1 else 's'}"
            return f"{self.test} {rows}" + (f" (e.g. {self.observed})" if self.observed else "")
        if self.observed and self.observed.startswith("error: "):
            return f"{self.test} {self.observed}"
        return f"{self.test} observed {self.observed}"


@dataclass(frozen=True)
class GateResult:
    name: str
    ds: date
    success: bool
    checks: tuple[CheckOutcome, ...]  # one per YAML test, in YAML order
    result: dict[str, Any]  # GE's ExpectationSuiteValidationResult, JSON-able
    failing_rows: DataFrame | None  # rows that broke row-level tests, plus _failed_checks array<string>

    def summary(self) -> str:
        head = f"{self.name} dt={self.ds.isoformat()}"
        failed = [check for check in self.checks if not check.success]
        if not failed:
            return f"{head}: all {len(self.checks)} checks passed"
        return f"{head}: {len(failed)} of {len(self.checks)} checks failed: " + "; ".join(c.describe() for c in failed)


class Report(NamedTuple):
    result_uri: str
    docs_uri: str


@dataclass(frozen=True)
class _Check:
    test: str
    expectation: Expectation
    violation: Violation | None = None  # row-level tests only


# --- the suite --------------------------------------------------------------------------------------------------


def expectation_suite(name: str, spec: ModelSpec, ds: date) -> gx.ExpectationSuite:
    """The model's YAML tests as expectations on its partition dt = ds: column tests, then table tests."""
    return gx.ExpectationSuite(name=name, expectations=[check.expectation for check in _checks(spec, ds)])


def _checks(spec: ModelSpec, ds: date) -> list[_Check]:
    return [
        *(_column_check(column.name, test, ds) for column in spec.columns for test in column.tests),
        *(_table_check(test, spec, ds) for test in spec.tests),
    ]


def _meta(test: str, kind: str) -> dict[str, Any]:
    return {"test": test, "kind": kind}


def _column_check(column: str, test: ColumnTest, ds: date) -> _Check:
    if test.not_null:
        name = f"not_null({column})"
        expectation: Expectation = ExpectColumnValuesToNotBeNull(column=column, meta=_meta(name, "not_null"))
        return _Check(name, expectation, _where(lambda: _col(column).isNull()))
    if test.unique:
        name = f"unique({column})"
        expectation = ExpectColumnValuesToBeUnique(column=column, meta=_meta(name, "unique"))
        return _Check(name, expectation, _where(lambda: _col(column).isNotNull() & _duplicated(column)))
    if test.accepted_values:
        name, values = f"accepted_values({column})", list(test.accepted_values.values)
        expectation = ExpectColumnValuesToBeInSet(column=column, value_set=values, meta=_meta(name, "accepted_values"))
        return _Check(name, expectation, _where(lambda: _col(column).isNotNull() & ~_col(column).isin(values)))
    if test.accepted_range:
        low, high = _number(test.accepted_range.min), _number(test.accepted_range.max)
        name = f"accepted_range({_range_text(column, low, high)})"
        expectation = ExpectColumnValuesToBeBetween(
            column=column, min_value=low, max_value=high, meta=_meta(name, "accepted_range")
        )
        return _Check(name, expectation, _where(lambda: _outside(column, low, high)))
    assert test.relationships is not None
    return _relationship_check(column, test.relationships.to, test.relationships.field, ds)


def _relationship_check(column: str, to: str, field: str, ds: date) -> _Check:
    """Every non-null value of the column is a `field` of table `to` in the same partition (dt = ds)."""
    name = f"relationships({column} -> {to}.{field})"
    query = (
        f"select b.* from {{batch}} as b left anti join (select `{field}` as ref_key from {to} "
        f"where dt = date '{ds.isoformat()}') as r on b.`{column}` = r.ref_key where b.`{column}` is not null"
    )
    description = f"every {column} is a {field} of {to} (dt = {ds.isoformat()})"
    expectation = UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=description, meta=_meta(name, "relationships")
    )
    return _Check(name, expectation, _unmatched(column, to, field, ds))


def _table_check(test: TableTest, spec: ModelSpec, ds: date) -> _Check:
    if test.unique_combination:
        columns = list(test.unique_combination.columns)
        name = f"unique_combination({', '.join(columns)})"
        # GE's default ignore_row_if="all_values_are_missing" skips rows whose columns are all null; so does ours.
        expectation: Expectation = ExpectCompoundColumnsToBeUnique(
            column_list=columns, meta=_meta(name, "unique_combination")
        )
        return _Check(name, expectation, _where(lambda: ~_all_null(columns) & _duplicated(*columns)))
    if test.row_count:
        low, high = test.row_count.min, test.row_count.max
        name = f"row_count({low}..{high})" if high is not None else f"row_count(>= {low})"
        expectation = ExpectTableRowCountToBeBetween(min_value=low, max_value=high, meta=_meta(name, "row_count"))
        return _Check(name, expectation)
    assert test.freshness is not None
    column, hours = test.freshness.column, test.freshness.max_delay_hours
    name = f"freshness({column} within {hours:g}h)"
    oldest = datetime.combine(ds + timedelta(days=1), time(), UTC) - timedelta(hours=hours)
    declared = spec.column(column)
    # PySpark collects timestamps as naive datetimes in the Python process's time zone, so the bound is one too.
    bound = oldest.date() if declared and declared.type == "date" else datetime.fromtimestamp(oldest.timestamp())
    return _Check(name, ExpectColumnMaxToBeBetween(column=column, min_value=bound, meta=_meta(name, "freshness")))


def _number(value: float | None) -> int | float | None:
    return int(value) if value is not None and value.is_integer() else value


def _range_text(column: str, low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low} <= {column} <= {high}"
    return f"{column} >= {low}" if low is not None else f"{column} <= {high}"


# --- row-level violations as Spark conditions, mirroring GE's: a null is no value (only not_null looks at it) ---


def _where(condition: Callable[[], Column]) -> Violation:
    """A condition on the frame's own columns (built when used: Spark columns need a running session)."""
    return lambda frame, _tag: (frame, condition())


def _col(name: str) -> Column:
    return F.col(f"`{name}`")


def _duplicated(*columns: str) -> Column:
    return F.count(F.lit(1)).over(Window.partitionBy(*(_col(c) for c in columns))) > 1


def _all_null(columns: list[str]) -> Column:
    return functools.reduce(operator.and_, (_col(c).isNull() for c in columns))


def _outside(column: str, low: float | None, high: float | None) -> Column:
    value = _col(column)
    bounds = [*([value < low] if low is not None else []), *([value > high] if high is not None else [])]
    return value.isNotNull() & functools.reduce(operator.or_, bounds)


def _unmatched(column: str, to: str, field: str, ds: date) -> Violation:
    def violation(frame: DataFrame, tag: str) -> tuple[DataFrame, Column]:
        keys = frame.sparkSession.table(to).where(F.col("dt") == F.lit(ds)).select(_col(field).alias(tag))
        found = keys.distinct().withColumn(f"{tag}_found", F.lit(True))
        joined = frame.join(found, _col(column) == F.col(tag), "left").drop(tag)
        return joined, _col(column).isNotNull() & F.col(f"{tag}_found").isNull()

    return violation


def _failing_rows(frame: DataFrame, failed: list[_Check]) -> DataFrame | None:
    """The rows of the frame that broke any of the failed row-level checks, with the names of those checks."""
    if not failed:
        return None
    marked, flags = frame, []
    for index, check in enumerate(failed):
        assert check.violation is not None
        marked, condition = check.violation(marked, f"_sluice_check_{index}")
        flags.append(F.when(condition, F.lit(check.test)))
    names = F.filter(F.col(FAILED_CHECKS), lambda check: check.isNotNull())
    return (
        marked.withColumn(FAILED_CHECKS, F.array(*flags))  # window conditions are evaluated here, before any filter
        .withColumn(FAILED_CHECKS, names)
        .where(F.size(FAILED_CHECKS) > 0)
        .select(*(_col(c) for c in frame.columns), FAILED_CHECKS)
    )


# --- validation --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gx:
    """An ephemeral GE context with a Spark datasource, one DataFrame asset and its whole-frame batch definition."""

    context: AbstractDataContext
    batch: BatchDefinition[Any]

    def run(self, suite: gx.ExpectationSuite, frame: DataFrame, run_name: str) -> dict[str, Any]:
        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=self.batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add_or_update(
            gx.Checkpoint(name=suite.name, validation_definitions=[definition], result_format=RESULT_FORMAT)
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
        for key in run.run_results:  # the caller keeps the result: the process need not hold every one in memory
            self.context.validation_results_store.remove_key(key)  # type: ignore[no-untyped-call]
        (result,) = run.run_results.values()
        return dict(result.to_json_dict())  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=1)
def _gx(spark: SparkSession) -> _Gx:
    """Built once per Spark session. GE itself runs on the process's session (SparkSession.builder.getOrCreate)."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_spark("spark").add_dataframe_asset("partition")
    return _Gx(context, asset.add_batch_definition_whole_dataframe("whole partition"))


def validate(spark: SparkSession, df: DataFrame, name: str, spec: ModelSpec, ds: date) -> GateResult:
    """Validate model `name`'s staged partition dt = ds. The tables that relationships tests name must resolve in
    the session (catalog tables, or temp views) and have a dt column."""
    checks = _checks(spec, ds)
    was_cached = df.is_cached
    try:  # GE persists the frame for its passes over it; let go afterwards unless the caller had cached it
        result = _gx(spark).run(expectation_suite(name, spec, ds), df, run_name=f"dt={ds.isoformat()}")
    finally:
        if not was_cached:
            df.unpersist()
        spark.catalog.dropTempView("tmp_view")  # where GE's UnexpectedRowsExpectation registered the frame
    by_test = {r["expectation_config"]["meta"]["test"]: r for r in result["results"]}
    outcomes = tuple(_outcome(check.test, by_test[check.test]) for check in checks)
    failed = [c for c, o in zip(checks, outcomes, strict=True) if c.violation is not None and o.unexpected_count]
    return GateResult(name, ds, bool(result["success"]), outcomes, result, _failing_rows(df, failed))


def _outcome(test: str, result: dict[str, Any]) -> CheckOutcome:
    kind, success = result["expectation_config"]["type"], bool(result["success"])
    details, error = result.get("result") or {}, _error(result.get("exception_info") or {})
    if error is not None:
        return CheckOutcome(test, kind, False, None, f"error: {error}")
    if kind == "unexpected_rows_expectation":  # its observed value is the number of rows the query returned
        return CheckOutcome(test, kind, success, details.get("observed_value"), None)
    if "unexpected_count" in details:
        examples = [repr(item["value"]) for item in details.get("partial_unexpected_counts", [])]
        observed = ", ".join([example for example in examples if example != "None"][:5]) or None
        return CheckOutcome(test, kind, success, details["unexpected_count"], observed)
    return CheckOutcome(test, kind, success, None, str(details.get("observed_value")))


def _error(info: dict[str, Any]) -> str | None:
    """The first line of the exception GE caught: exception_info is one record, or one per failed metric."""
    records = [info] if "raised_exception" in info else [r for r in info.values() if isinstance(r, dict)]
    for record in records:
        if record.get("raised_exception"):
            return (str(record.get("exception_message") or "").strip().splitlines() or ["unknown error"])[0]
    return None


# --- the report --------------------------------------------------------------------------------------------------


def write_report(gate: GateResult, settings: Settings, run_id: str) -> Report:
    """Write GE's result to s3://<lake bucket>/quality/results/<model>/dt=<ds>/<run_id>.json and rebuild the
    Data Docs under s3://<lake bucket>/quality/docs/ (index.html lists this result; its page stays there)."""
    if not run_id or "/" in run_id:
        raise ValueError(f"run_id must be a non-empty name without '/': {run_id!r}")
    bucket, s3 = settings.lake_bucket, s3_client(settings)
    key = lake.quality_result_key(gate.name, gate.ds, run_id)
    body = json.dumps(gate.result, indent=2, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    with tempfile.TemporaryDirectory(prefix="sluice-docs-") as directory:
        build_data_docs(gate.result, Path(directory))
        _upload_site(s3, bucket, Path(directory))
    return Report(f"s3://{bucket}/{key}", f"s3://{bucket}/{lake.QUALITY_DOCS_INDEX}")


def build_data_docs(result: dict[str, Any], directory: Path) -> Path:
    """Render a validation result (and the suite it ran) as a GE Data Docs site in a local directory.

    GE 1.x writes Data Docs only to the local filesystem (its S3 store backend is gone), so `write_report` builds
    the site here and uploads it. Returns the site's index.html.
    """
    validation = expectationSuiteValidationResultSchema.load(result)
    context = gx.get_context(mode="ephemeral")
    context.delete_data_docs_site("local_site")
    backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)}
    index = {"class_name": "DefaultSiteIndexBuilder"}
    context.add_data_docs_site(
        "sluice", {"class_name": "SiteBuilder", "store_backend": backend, "site_index_builder": index}
    )
    expectations = [r.expectation_config for r in validation.results]
    context.suites.add(gx.ExpectationSuite(name=validation.suite_name, expectations=expectations))
    batch = validation.meta["active_batch_definition"]
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=validation.suite_name),
        run_id=RunIdentifier(**validation.meta["run_id"]),
        batch_identifier=f"{batch['datasource_name']}-{batch['data_asset_name']}",
    )
    context.validation_results_store.set(key, validation)
    context.build_data_docs(site_names=["sluice"])
    return directory / "index.html"


def _upload_site(s3: S3Client, bucket: str, site: Path) -> None:
    """Upload the pages, index.html last; GE's static assets (4 MB of fonts and images) only where missing."""
    present = {item["Key"] for item in list_objects(s3, bucket, f"{lake.QUALITY_DOCS}/static/")}
    for path in sorted((p for p in site.rglob("*") if p.is_file()), key=lambda p: (p.name == "index.html", p)):
        key = f"{lake.QUALITY_DOCS}/{path.relative_to(site).as_posix()}"
        if key not in present:
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
