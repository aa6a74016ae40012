"""The speed track's metric families and their snapshots in the lake's speed zone.

Each family is the speed side of one batch mart: the same columns, counted the same way, for the hours whose day
the batch track has not published yet. The streaming job (`spark_jobs/speed_track.py`) keeps every current hour
of a family in memory and, after each micro-batch, writes them all as one new snapshot named by the batch; the
serving view (`sluice/serving/speed_views.py`) reads only the newest. A snapshot is one S3 PUT, so readers see a
whole batch or none of it, and a batch replayed after a crash writes the same snapshot again.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from sluice import lake
from sluice.settings import Settings

if TYPE_CHECKING:  # not imported at run time: Spark's Python workers import this module for ACTORS
    from sluice.marts.project import Project
    from sluice.objectstore import S3Client

VERSION = "version"  # the micro-batch that wrote a snapshot; a column of every snapshot row
EMPTY = -1  # the version of the empty snapshot written before the first batch (its key sorts first)
KEEP_SUPERSEDED_SECONDS = 60.0  # a reader that listed an older snapshot is done with it well within this
_ARROW_TYPES = {"int": pa.int32(), "bigint": pa.int64(), "string": pa.string(), "date": pa.date32()}


@dataclass(frozen=True)
class Family:
    name: str  # the speed zone's folder; the serving view is `serving_<name>`
    mart: str  # the batch mart with the same columns
    keys: tuple[str, ...]  # a row's identity besides dt and hr
    event_types: tuple[str, ...]  # what it counts; its job reads only their topics

    @property
    def view(self) -> str:
        return f"serving_{self.name}"

    def key_columns(self) -> tuple[str, ...]:
        return ("dt", "hr", *self.keys)


# Whose actions count as activity: the users fct_user_activity counts as active (marts/core/fct_user_activity.sql).
ACTORS = {
    "user_signed_up": ("user_id",),
    "listing_created": ("seller_id",),
    "listing_viewed": ("user_id",),
    "search_performed": ("user_id",),
    "chat_started": ("buyer_id",),
    "message_sent": ("sender_id",),
    "reservation_made": ("buyer_id", "seller_id"),
    "transaction_completed": ("buyer_id", "seller_id"),
    "report_filed": ("reporter_id",),
}
FAMILIES = (
    Family("activity_hourly", "mart_activity_hourly", (), tuple(ACTORS)),
    Family("new_listings_hourly", "mart_new_listings_hourly", ("region_id", "category"), ("listing_created",)),
)


def family(name: str) -> Family:
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no speed family {name!r}; families: {[f.name for f in FAMILIES]}")


def snapshot_schema(project: Project, fam: Family) -> pa.Schema:
    """The mart's columns (dt first, as the view selects them) plus the writing batch."""
    columns = project.model(fam.mart).spec.columns
    fields = [pa.field(c.name, _ARROW_TYPES[c.type]) for c in columns if c.name == "dt"]
    fields += [pa.field(c.name, _ARROW_TYPES[c.type]) for c in columns if c.name != "dt"]
    return pa.schema([*fields, pa.field(VERSION, pa.int64())])


class Snapshots:
    """One family's snapshots: the newest one's rows, writing the next, and removing superseded ones."""

    def __init__(self, s3: S3Client, settings: Settings, project: Project, fam: Family) -> None:
        self.s3, self.bucket, self.family = s3, settings.lake_bucket, fam
        self.schema = snapshot_schema(project, fam)

    def _listing(self) -> Iterator[dict[str, Any]]:
        from sluice.objectstore import list_objects

        return list_objects(self.s3, self.bucket, lake.speed_prefix(self.family.name))

    def latest(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The newest snapshot's rows by key; empty when there is none yet."""
        keys = sorted(item["Key"] for item in self._listing())
        if not keys:
            return {}
        body = self.s3.get_object(Bucket=self.bucket, Key=keys[-1])["Body"].read()
        rows = pq.read_table(io.BytesIO(body)).drop_columns([VERSION]).to_pylist()
        return {self.key(row): row for row in rows}

    def key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.family.key_columns())

    def write(self, version: int, rows: Iterable[dict[str, Any]]) -> bool:
        """Write the batch's snapshot unless it exists: a batch replayed after a crash wrote it already, from the same
        input. A snapshot is never rewritten, because the SQL endpoint caches a file's length by its name, and a
        rewritten file of another length would fail every query that reads it."""
        key = lake.speed_snapshot_key(self.family.name, version)
        from sluice.objectstore import has_objects

        if has_objects(self.s3, self.bucket, key):
            return False
        ordered = sorted(rows, key=self.key)  # the same rows give the same bytes
        table = pa.Table.from_pylist([{**row, VERSION: version} for row in ordered], schema=self.schema)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue())
        return True

    def ensure_one(self) -> None:
        """An empty snapshot before the first batch's, so that the serving view can be created before any event."""
        if next(self._listing(), None) is None:
            self.write(EMPTY, [])

    def prune(self, now: float | None = None) -> None:
        """Delete all but the newest snapshot, once no reader can still be reading them."""
        items = sorted(self._listing(), key=lambda item: item["Key"])[:-1]
        cutoff = (now or time.time()) - KEEP_SUPERSEDED_SECONDS
        old = [item["Key"] for item in items if item["LastModified"].timestamp() < cutoff]
        if old:
            from sluice.objectstore import delete_keys

            delete_keys(self.s3, self.bucket, old)


def expired(row: dict[str, Any], published: set[date], oldest: datetime) -> bool:
    """A row leaves the speed zone once the batch track published its day, or when its hour began before `oldest`."""
    day: date = row["dt"]
    return day in published or datetime(day.year, day.month, day.day, row["hr"], tzinfo=UTC) < oldest


def read_progress(s3: S3Client, settings: Settings, name: str) -> dict[str, int]:
    """Records a family's job has read and those it refused as breaking the contract, over all its runs."""
    try:
        body = s3.get_object(Bucket=settings.lake_bucket, Key=lake.speed_progress_key(name))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {"batch": -1, "records": 0, "refused": 0}
    return dict(json.loads(body))


def add_progress(s3: S3Client, settings: Settings, name: str, batch: int, records: int, refused: int) -> None:
    """Count a finished micro-batch once: a batch reported again (after a restart) is not added twice."""
    progress = read_progress(s3, settings, name)
    if batch <= progress["batch"]:
        return
    progress = {"batch": batch, "records": progress["records"] + records, "refused": progress["refused"] + refused}
    s3.put_object(Bucket=settings.lake_bucket, Key=lake.speed_progress_key(name), Body=json.dumps(progress).encode())
