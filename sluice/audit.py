"""`sluice audit --date D`: one reconciliation of a day, from the Kafka offsets the sink committed to the warehouse.

Every stage promises exactly-once on its own; the audit checks that the stages agree with each other, link by link,
from an independent read of what each one left behind: Kafka's committed offsets, the completeness markers'
manifests, the raw zone's Parquet, the published partitions' Parquet (read with pyarrow, not Spark), and BigQuery's
partition metadata. No job's own report of what it did is taken on trust.

    kafka    the sink's consumer group committed past every offset the day's markers list
    markers  every hour is marked, every object a marker lists is in the raw zone, and nothing else is
    raw      the objects hold the rows the markers list, each Kafka record once
    staging  per event type: raw rows less producer retries (same event_id) = the staging model's rows
    marts    totals that can be cross-checked against staging (e.g. GMV and transactions)
    bigquery per published mart: the lake partition's rows = the BigQuery partition's (when publishing is on)

The marts DAG audits each day up to the marts as its last step; the BigQuery DAG checks the last link once it has
loaded (`warehouse_checks`); `sluice audit` checks them all.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

from sluice import lake
from sluice.marts.project import Project
from sluice.objectstore import S3Client, list_objects, s3_client
from sluice.settings import Settings

LINKS = ("kafka", "markers", "raw", "staging", "marts", "bigquery")  # in the order data flows

# Mart totals that must equal a staging total for the same day: (mart, its column summed, staging model, the
# staging column summed, or None to count its rows). Each mart counts each event once, as staging keeps it.
CROSS_CHECKS: tuple[tuple[str, str, str, str | None], ...] = (
    ("mart_gmv_daily", "transactions", "stg_transactions", None),
    ("mart_gmv_daily", "gmv", "stg_transactions", "price"),
    ("mart_activity_hourly", "transactions", "stg_transactions", None),
    ("mart_activity_hourly", "gmv", "stg_transactions", "price"),
    ("mart_activity_hourly", "new_listings", "stg_listings", None),
    ("mart_activity_hourly", "listing_views", "stg_listing_views", None),
    ("mart_activity_hourly", "searches", "stg_searches", None),
    ("mart_activity_hourly", "chats_started", "stg_chats", None),
    ("mart_activity_hourly", "messages_sent", "stg_messages", None),
    ("mart_activity_hourly", "reports", "stg_reports", None),
)


@dataclass(frozen=True)
class Check:
    link: str  # one of LINKS
    subject: str  # a topic, event type, mart column or mart
    expected: int
    found: int
    detail: str = ""  # what the numbers mean, or what does not reconcile
    ok: bool | None = None  # None: expected == found decides

    @property
    def passed(self) -> bool:
        return self.expected == self.found if self.ok is None else self.ok


@dataclass
class Report:
    day: date
    checks: list[Check] = field(default_factory=list)

    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.passed), None)

    def table(self) -> str:
        lines = [f"audit of dt={self.day}", f"{'link':<9} {'subject':<40} {'expected':>12} {'found':>12}  ok  detail"]
        for c in self.checks:
            mark = "yes" if c.passed else "NO"
            lines.append(f"{c.link:<9} {c.subject:<40} {c.expected:>12} {c.found:>12}  {mark:<3} {c.detail}")
        failure = self.first_failure()
        lines.append(
            f"FAILED at {failure.link} ({failure.subject}): {failure.detail}"
            if failure
            else f"reconciled: all {len(self.checks)} checks, from Kafka to the {self.checks[-1].link}"
        )
        return "\n".join(lines)


class AuditFailed(RuntimeError):
    def __init__(self, report: Report) -> None:
        failure = report.first_failure()
        assert failure is not None
        super().__init__(
            f"the audit of dt={report.day} does not reconcile at {failure.link} ({failure.subject}): expected "
            f"{failure.expected}, found {failure.found}; {failure.detail}"
        )
        self.report = report


def staging_models(project: Project) -> dict[str, str]:
    """Event type -> the staging model that keeps one row per event of it (the `event_type = '…'` in its SQL)."""
    found = {}
    for model in project.models.values():
        if model.layer != "staging":
            continue
        for condition in model.tree.find_all(exp.EQ):
            if isinstance(condition.left, exp.Column) and condition.left.name == "event_type":
                found[condition.right.name] = model.name
    return found


def audit(
    settings: Settings, project: Project, day: date, committed: dict[tuple[str, int], int], *, warehouse: bool
) -> Report:
    """Reconcile `day`; `committed` is the sink group's committed offset per (topic, partition) (`kafka_committed`);
    `warehouse`: also BigQuery's partitions of `settings.bigquery_marts` (when publishing is on)."""
    s3, report = s3_client(settings), Report(day)
    topics = sorted({source.topic for source in project.sources.values()})
    raw: dict[str, pa.Table] = {}
    for topic in topics:
        listing = list(list_objects(s3, settings.lake_bucket, lake.raw_day_prefix(topic, day)))
        markers = _markers(s3, settings.lake_bucket, listing)
        report.checks.append(_kafka(topic, markers, committed))
        # An object a compacted one replaced may outlive an interrupted compaction; its rows are in the new one.
        replaced = {piece["key"] for listed in _listed(markers) for piece in listed.get("compacted_from", [])}
        present = {
            item["Key"]: item for item in listing if item["Key"].endswith(".parquet") and item["Key"] not in replaced
        }
        report.checks.append(_objects(topic, markers, present))
        raw[topic] = _read_tables(s3, settings.lake_bucket, sorted(present), RAW_AUDIT_COLUMNS)
        report.checks.append(_raw_rows(topic, markers, raw[topic]))
    events = pa.concat_tables(raw.values(), promote_options="permissive")  # a topic without objects: null columns
    lateness = timedelta(minutes=settings.ingest_allowed_lateness_minutes)
    late = pa.chunked_array([late_arrivals(table, lateness) for table in raw.values()], pa.bool_())
    models = staging_models(project)
    staged = {model: _partition(s3, settings, "staging", model, day) for model in models.values()}
    for event_type in sorted(models.keys() | set(events["event_type"].to_pylist() if events.num_rows else ())):
        if event_type not in models:
            count = pc.sum(pc.equal(events["event_type"], event_type)).as_py()
            report.checks.append(Check("staging", event_type, count, 0, "no staging model keeps this event type"))
            continue
        model = models[event_type]
        report.checks.append(_staging(event_type, model, events, staged[model], late, lateness))
    marts = {mart: _partition(s3, settings, "marts", mart, day) for mart in {check[0] for check in CROSS_CHECKS}}
    for mart, column, model, summed in CROSS_CHECKS:
        mart_total = _total(marts[mart], column)
        staging_total = _total(staged[model], summed)
        report.checks.append(
            Check(
                "marts",
                f"{mart}.{column}",
                staging_total,
                mart_total,
                f"{'sum of ' + summed if summed else 'rows'} of {model}",
            )
        )
    if warehouse and settings.bigquery_project:
        report.checks += warehouse_checks(settings, s3, day, list(settings.bigquery_marts))
    return report


def warehouse_checks(settings: Settings, s3: S3Client, day: date, marts: list[str]) -> list[Check]:
    """Per mart: the rows of the lake's partition = the rows of its BigQuery partition (from its metadata: free)."""
    from google.api_core.exceptions import NotFound

    from sluice.serving import bigquery

    bq, checks = bigquery.client(settings), []
    for mart in marts:
        rows = _partition(s3, settings, "marts", mart, day).num_rows
        partition = bigquery.partition_id(settings, mart, day)
        try:
            copied, detail = bigquery.partition_rows(bq, settings, mart, day), f"rows of {partition}"
        except NotFound:
            copied, detail = 0, f"no table {bigquery.table_id(settings, mart)} yet (`sluice bigquery publish`)"
        checks.append(Check("bigquery", mart, rows, copied, detail))
    return checks


# --- kafka and the markers --------------------------------------------------------------------------------------------

RAW_AUDIT_COLUMNS = ("event_id", "event_type", "event_time", "kafka_partition", "kafka_offset", "ingested_at")


def _markers(s3: S3Client, bucket: str, listing: list[dict[str, Any]]) -> dict[int, dict[str, Any] | None]:
    """The day's markers by hour, from the listing of its raw folder; None for an hour not marked complete."""
    found: dict[int, dict[str, Any] | None] = dict.fromkeys(range(24))
    for item in listing:
        if lake.is_marker(item["Key"]):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[lake.parse_raw_key(item["Key"]).hour.hour] = json.loads(body)
    return found


def _listed(markers: dict[int, dict[str, Any] | None]) -> Iterator[dict[str, Any]]:
    for marker in markers.values():
        yield from (marker or {}).get("objects", [])


def _kafka(topic: str, markers: dict[int, dict[str, Any] | None], committed: dict[tuple[str, int], int]) -> Check:
    last: dict[int, int] = {}  # per partition: the highest offset the day's objects hold
    first: dict[int, int] = {}
    for listed in _listed(markers):
        for piece in listed.get("compacted_from", [listed]):  # a compacted object keeps its sources' offsets
            if "partition" in piece:
                p = piece["partition"]
                last[p] = max(last.get(p, -1), piece["last_offset"])
                first[p] = min(first.get(p, piece["first_offset"]), piece["first_offset"])
    behind = sorted(p for p, offset in last.items() if committed.get((topic, p), -1) <= offset)
    ranges = ", ".join(f"p{p}:{first[p]}-{last[p]}" for p in sorted(last))
    detail = (
        f"not committed by the sink's group past the day's offsets in partitions {behind}"
        if behind
        else f"partitions committed past the day's offsets ({ranges or 'none'})"
    )
    return Check("kafka", topic, len(last), len(last) - len(behind), detail)


def _objects(topic: str, markers: dict[int, dict[str, Any] | None], present: dict[str, dict[str, Any]]) -> Check:
    unmarked = [hour for hour, marker in markers.items() if marker is None]
    listed = {o["key"] for o in _listed(markers)}
    missing, unlisted = sorted(listed - present.keys()), sorted(present.keys() - listed)
    if unmarked:
        detail = f"hours without a completeness marker: {unmarked}; the day is not complete (wait, or see ingestion)"
    elif missing:
        detail = f"{len(missing)} object(s) the markers list are not in the raw zone, e.g. {missing[0]}"
    elif unlisted:
        detail = f"{len(unlisted)} object(s) in the raw zone no marker lists, e.g. {unlisted[0]}"
    else:
        detail = f"{len(listed)} objects in 24 marked hours"
    return Check("markers", topic, len(listed), len(present), detail, ok=not (unmarked or missing or unlisted))


def _raw_rows(topic: str, markers: dict[int, dict[str, Any] | None], table: pa.Table) -> Check:
    marked = sum((marker or {}).get("rows", 0) for marker in markers.values())
    coordinates = Counter(zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True))
    twice = sorted(c for c, n in coordinates.items() if n > 1)
    if twice:
        p, offset = twice[0]
        return Check("raw", topic, marked, table.num_rows,
                     f"{len(twice)} Kafka record(s) stored more than once, e.g. partition {p} offset {offset}",
                     ok=False)  # fmt: skip
    return Check("raw", topic, marked, table.num_rows, "rows the markers list = rows in the objects")


# --- staging and marts ----------------------------------------------------------------------------------------------


def late_arrivals(events: pa.Table, lateness: timedelta) -> pa.BooleanArray:
    """Per row of one topic: did it reach its Kafka partition after a record more than `lateness` newer (among the
    day's records: a lower bound for the day's last hours, whose newer records may be the next day's)?"""
    import numpy as np

    late = np.zeros(events.num_rows, dtype=bool)
    if not events.num_rows:
        return pa.array(late)
    times = events["event_time"].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    partitions = events["kafka_partition"].to_numpy()
    order = np.lexsort((events["kafka_offset"].to_numpy(), partitions))
    allowed = int(lateness.total_seconds() * 1_000_000)
    for partition in np.unique(partitions):
        rows = order[partitions[order] == partition]
        newest_before = np.maximum.accumulate(times[rows])
        late[rows[1:]] = times[rows[1:]] < newest_before[:-1] - allowed
    return pa.array(late)


def _staging(
    event_type: str, model: str, events: pa.Table, staged: pa.Table, late_rows: pa.ChunkedArray, lateness: timedelta
) -> Check:
    of_type = events.filter(pc.equal(events["event_type"], event_type)) if events.num_rows else events
    distinct = len(set(of_type["event_id"].to_pylist())) if of_type.num_rows else 0
    retries = of_type.num_rows - distinct
    late = int(pc.sum(pc.filter(late_rows, pc.equal(events["event_type"], event_type))).as_py() or 0)
    detail = (
        f"{model}: {of_type.num_rows} raw rows less {retries} producer retries (same event_id); {late} of them "
        f"arrived late (after a record over {lateness} newer in their Kafka partition), kept in this day"
    )
    return Check("staging", event_type, distinct, staged.num_rows, detail)


def _partition(s3: S3Client, settings: Settings, layer: str, model: str, day: date) -> pa.Table:
    keys = [
        item["Key"]
        for item in list_objects(s3, settings.lake_bucket, lake.partition_prefix(layer, model, day))
        if item["Key"].endswith(".parquet")
    ]
    return _read_tables(s3, settings.lake_bucket, keys, None)


def _total(table: pa.Table, column: str | None) -> int:
    if column is None:
        return int(table.num_rows)
    if not table.num_rows:
        return 0
    return int(pc.sum(table[column]).as_py() or 0)


def _read_tables(s3: S3Client, bucket: str, keys: list[str], columns: tuple[str, ...] | None) -> pa.Table:
    tables = [
        pq.read_table(
            io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), columns=list(columns) if columns else None
        )
        for key in keys
    ]
    if not tables:
        return pa.table({name: pa.array([], pa.null()) for name in columns or ()})
    return pa.concat_tables(tables, promote_options="permissive")


def kafka_committed(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The sink's consumer group's committed offset per (topic, partition)."""
    from ingestion.status import committed_offsets

    return {(tp.topic, tp.partition): offset for tp, offset in committed_offsets(settings, topics).items()}


def run(settings: Settings, project: Project, day: date, *, warehouse: bool = True) -> Report:
    """The audit of `day` against the live Kafka group; raises AuditFailed (with the report) unless it reconciles."""
    topics = sorted({source.topic for source in project.sources.values()})
    report = audit(settings, project, day, kafka_committed(settings, topics), warehouse=warehouse)
    if report.first_failure():
        raise AuditFailed(report)
    return report
