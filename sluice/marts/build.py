"""Build one model for one date on Spark: stage, gate, then publish the partition, or quarantine it.

A partition reaches its table only after its quality gate passed, and then by dynamic partition overwrite, so a
rebuild replaces exactly that date and nothing else. A failing gate leaves the published partition as it was,
stores the rows that broke a test under `quarantine/`, and raises GateFailed naming each failed test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingestion.completeness import missing_hours
from sluice import lake
from sluice.marts.project import External, Model, Project
from sluice.marts.spec import Column
from sluice.objectstore import S3Client, delete_keys, has_objects, list_objects, s3_client
from sluice.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from sluice.marts import quality

CATALOG_LOCK_ID = 0x51C3_CA7A  # a PostgreSQL advisory lock key of Sluice's own


class GateFailed(RuntimeError):
    """A built partition broke its quality gate; the published data is unchanged."""

    def __init__(self, gate: quality.GateResult, quarantine_uri: str) -> None:
        super().__init__(f"{gate.summary()}. Not published; failing rows are in {quarantine_uri}")
        self.gate = gate
        self.quarantine_uri = quarantine_uri


class IncompleteInput(RuntimeError):
    """The raw zone does not yet hold every hour of the date, or a snapshot's previous day is not built."""


@dataclass(frozen=True)
class Built:
    """What one publish did; also kept in the lake as the partition's build record (`sluice.lake.build_record_key`)."""

    model: str
    ds: date
    rows: int
    checks: int
    seconds: float
    report_uri: str

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ds": self.ds.isoformat(), "published_at": datetime.now(UTC).isoformat()})


@contextmanager
def catalog_lock(settings: Settings) -> Iterator[None]:
    """One process at a time creates schemas and tables. The metastore's tables have no unique constraints here
    (see sluice.spark), so two builds running `create ... if not exists` at once would both insert the same name,
    and every later lookup of it fails with "returned more than one instance"."""
    import psycopg2

    connection = psycopg2.connect(settings.postgres_dsn(settings.metastore_database))
    try:
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_lock(%s)", (CATALOG_LOCK_ID,))
        yield
    finally:
        connection.close()  # ends the session, which releases the lock


def read_build_record(s3: S3Client, settings: Settings, model: str, ds: date) -> dict[str, Any] | None:
    """The last publish of a model's partition, or None if it was never published."""
    try:
        body = s3.get_object(Bucket=settings.lake_bucket, Key=lake.build_record_key(model, ds))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return dict(json.loads(body))


class Builder:
    """Builds models into the catalog schema `settings.marts_schema`, on one Spark session."""

    def __init__(self, spark: SparkSession, settings: Settings, project: Project) -> None:
        self.spark = spark
        self.settings = settings
        self.project = project
        self.schema = settings.marts_schema
        self._s3: S3Client | None = None
        self._tables: set[str] = set()  # created (or found) by this builder already

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = s3_client(self.settings)
        return self._s3

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def location(self, model: Model | External) -> str:
        return f"{self.settings.lake_uri}/{lake.table_location(model.layer, model.name)}"

    def ensure_tables(self, names: list[str]) -> None:
        """Create the schema and the models' tables where missing, so a first build reads empty upstreams."""
        if not set(names) - self._tables:
            return
        with catalog_lock(self.settings):
            self._create_tables(names)

    def _create_tables(self, names: list[str]) -> None:
        if not self._tables:
            catalog = f"{self.settings.lake_uri}/{lake.CATALOG}"
            self.spark.sql(f"create database if not exists {self.schema} location '{catalog}'")
        for name in sorted(set(names) - self._tables):
            model = self.project.table(name)
            comment, location = comment_text(model.spec.description.strip()), self.location(model)
            self.spark.sql(
                f"create table if not exists {self.table(name)} ({_columns_ddl(model.spec.columns)}) using parquet "
                f"partitioned by (dt) comment '{comment}' location '{location}'"
            )
            self._add_new_columns(model)
            self._tables.add(name)

    def _add_new_columns(self, model: Model | External) -> None:
        """Columns a model's YAML gained (before `dt`) since its table was created: added to the table, so older
        partitions read them as null. Any other difference needs the table dropped and its dates rebuilt."""
        existing = list(self.spark.table(self.table(model.name)).columns)
        wanted = list(model.columns)
        if existing == wanted:
            return
        kept, added = wanted[: len(existing) - 1], wanted[len(existing) - 1 : -1]
        if existing[:-1] != kept or existing[-1:] != ["dt"]:
            raise ValueError(
                f"table {self.table(model.name)} has columns {existing}, but {model.name}'s YAML declares {wanted}; "
                f"only new columns before dt are added by themselves: drop the table (`drop table "
                f"{self.table(model.name)}`; its files stay) and rebuild its dates"
            )
        self.spark.sql(f"alter table {self.table(model.name)} add columns ({_columns_ddl(model.spec.columns, added)})")
        print(f"{self.table(model.name)}: added the new columns {added}", flush=True)

    def build(self, name: str, ds: date, *, require_complete: bool = True) -> Built:
        started = time.monotonic()
        model = self.project.model(name)
        externals = sorted(model.upstream & self.project.externals.keys())
        self.ensure_tables([model.name, *sorted(model.upstream & self.project.models.keys()), *externals])
        for external in externals:  # partitions its writer added since: into the catalog
            self.spark.sql(f"msck repair table {self.table(external)}")
        for source in sorted(model.upstream & self.project.sources.keys()):
            self._raw_view(source, ds, require_complete).createOrReplaceTempView(source)
        if model.reads_own_past:
            self._require_previous_snapshot(model, ds)
        self.spark.catalog.setCurrentDatabase(self.schema)
        tag = self._take_over(name, ds)
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        staged_uri = f"{self.settings.lake_uri}/{lake.staging_prefix(name, ds)}{run_id}"
        from sluice.marts import quality  # Great Expectations: seconds to import, so only where a gate runs

        try:
            staged, rows = self._stage(model, ds, staged_uri)
            gate = quality.validate(self.spark, staged, name, model.spec, ds)
            report = quality.write_report(gate, self.settings, run_id)
            if not gate.success:
                raise GateFailed(gate, self._quarantine(gate, name, ds, run_id))
            staged.write.insertInto(self.table(name), overwrite=True)  # dynamic: this dt partition only
        finally:
            self._delete(staged_uri)
            if tag:
                self.spark.removeTag(tag)
        built = Built(name, ds, rows, len(gate.checks), time.monotonic() - started, report.result_uri)
        self.s3.put_object(Bucket=self.settings.lake_bucket, Key=lake.build_record_key(name, ds), Body=built.to_json())
        return built

    def _take_over(self, name: str, ds: date) -> str | None:
        """Make this the only build of the partition: a killed client's build can still be running on the Spark
        Connect server (a task killed and retried, or cleared), and must not publish over or beside this one. Over
        Connect, each build tags its operations by partition and records its session; the next build interrupts
        that tag in that session, then removes everything earlier tries staged. Returns this build's tag."""
        from sluice.spark import interrupt_tag, session_id

        own, tag = session_id(self.spark), f"sluice-build-{self.schema}-{name}-{ds}"
        if own is not None and self.settings.spark_remote:
            key = lake.build_session_key(name, ds)
            try:
                earlier = json.loads(self.s3.get_object(Bucket=self.settings.lake_bucket, Key=key)["Body"].read())
            except self.s3.exceptions.NoSuchKey:
                earlier = {}
            if earlier.get("session_id") not in (None, own):
                stopped = interrupt_tag(self.settings.spark_remote, earlier["session_id"], tag)
                if stopped:
                    print(f"{name} dt={ds}: stopped {len(stopped)} operation(s) of an earlier build still running "
                          f"in Spark session {earlier['session_id']}", flush=True)  # fmt: skip
            self.s3.put_object(Bucket=self.settings.lake_bucket, Key=key, Body=json.dumps({"session_id": own}))
            self.spark.addTag(tag)
        self._delete(f"{self.settings.lake_uri}/{lake.staging_prefix(name, ds)}")
        return tag if own is not None else None

    def build_many(self, names: list[str], ds: date, *, require_complete: bool = True) -> Iterator[Built]:
        for name in names:
            yield self.build(name, ds, require_complete=require_complete)

    def _stage(self, model: Model, ds: date, staged_uri: str) -> tuple[DataFrame, int]:
        """Run the SQL into the staging location; returns the staged frame and its row count."""
        from pyspark.sql import functions as F

        result = self.spark.sql(model.render(ds))
        typed = result.select([F.col(c.name).cast(c.type).alias(c.name) for c in model.spec.columns])
        typed.write.mode("overwrite").parquet(staged_uri)
        staged = self.spark.read.parquet(staged_uri).select(*model.columns)
        stray = F.col("dt").isNull() | (F.col("dt") != F.lit(ds))
        counts = staged.agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(stray, 1)).alias("stray")).first()
        assert counts is not None
        if counts["stray"]:
            raise ValueError(f"{model.sql_path} returned {counts['stray']} rows whose dt is not {ds}; every row "
                             "must have dt = :ds")  # fmt: skip
        return staged, int(counts["rows"])

    def _require_previous_snapshot(self, model: Model, ds: date) -> None:
        """A snapshot carries its previous day forward: it may start from nothing only on the first day of history.
        Built on a later day without its previous one, it would silently drop everything from before."""
        from sluice.retention import dated_folders

        previous = ds - timedelta(days=1)
        if has_objects(self.s3, self.settings.lake_bucket, lake.partition_prefix(model.layer, model.name, previous)):
            return
        upstream = self.project.select([model.name], upstream=True)
        sources = {s for name in upstream for s in self.project.models[name].upstream & self.project.sources.keys()}
        topics = sorted({self.project.sources[source].topic for source in sources})
        days = (
            day
            for t in topics
            for day, _ in dated_folders(self.s3, self.settings.lake_bucket, lake.raw_topic_prefix(t))
        )
        first = min(days, default=ds)
        if first < ds:
            raise IncompleteInput(
                f"{model.name} dt={ds} carries dt={previous} forward, which is not built, and the raw zone holds "
                f"events from {first} on: starting from an empty snapshot would drop them. Build the days before in "
                f"order first: `sluice marts build {model.name} --with-upstream --date {first} --until {previous}`"
            )

    def _raw_view(self, source: str, ds: date, require_complete: bool) -> DataFrame:
        topic = self.project.sources[source].topic
        if require_complete and (missing := missing_hours(self.s3, self.settings.lake_bucket, topic, ds)):
            raise IncompleteInput(
                f"{source} ({topic}) has no completeness marker yet for dt={ds} hours {missing}; wait for the "
                "ingestion sink to pass them, or build with --allow-incomplete for a preview"
            )
        base = f"{self.settings.lake_uri}/{lake.raw_topic_prefix(topic)}"
        reader = self.spark.read.schema(lake.RAW_SPARK_DDL).option("basePath", base)
        if not self._exists(lake.raw_day_prefix(topic, ds)):
            return self.spark.createDataFrame([], lake.RAW_SPARK_DDL)
        return reader.parquet(f"{self.settings.lake_uri}/{lake.raw_day_prefix(topic, ds)}")

    def _quarantine(self, gate: quality.GateResult, name: str, ds: date, run_id: str) -> str:
        uri = f"{self.settings.lake_uri}/{lake.quarantine_prefix(name, ds)}{run_id}"
        if gate.failing_rows is not None:
            gate.failing_rows.write.mode("overwrite").parquet(uri)
        return uri

    def _keys(self, prefix: str) -> Iterator[str]:
        return (item["Key"] for item in list_objects(self.s3, self.settings.lake_bucket, prefix))

    def _exists(self, prefix: str) -> bool:
        return has_objects(self.s3, self.settings.lake_bucket, prefix)

    def _delete(self, uri: str) -> None:
        prefix = uri.removeprefix(f"{self.settings.lake_uri}/")
        delete_keys(self.s3, self.settings.lake_bucket, list(self._keys(prefix)))


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _columns_ddl(columns: Iterable[Column], only: Iterable[str] | None = None) -> str:
    names = None if only is None else set(only)
    return ", ".join(
        f"`{c.name}` {c.type} comment '{comment_text(c.description)}'"
        for c in columns
        if names is None or c.name in names
    )


def comment_text(text: str) -> str:
    """Text for a SQL comment '...' (a table's, a column's, a view's): one line, quotes escaped."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("'", "\\'")
