"""Publish marts to BigQuery, the warehouse copy: each published day of a chosen mart replaces that day's partition.

Why it works this way:
- One load job per mart and day, WRITE_TRUNCATE into the `table$YYYYMMDD` partition decorator: BigQuery swaps that one
  partition atomically, so a re-publish replaces the day and leaves every other day alone (the lake's own semantics).
- `dt` is a partition column of the lake (in the path, not in the files), so the partition's part files are read with
  pyarrow, given their `dt` column and uploaded as one Parquet body. The lake is reached through a pyarrow FileSystem:
  S3 in production, a local folder in unit tests.
- Job ids are deterministic (run, dataset, table, partition, content): a retry after a lost response inserts the same
  id, BigQuery answers 409 Already Exists, and we wait for the job that exists instead of loading twice.
- Schema, table and column descriptions come from the mart's YAML, the text analysts also read in Superset.
- Every query Sluice runs goes through `guarded_query`: a dry run first, refused above `bigquery_max_query_bytes`.

The DAG factory imports this module while Airflow parses DAG files, so google-cloud-bigquery and pyarrow are imported
inside the functions that use them.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from sluice import lake
from sluice.marts.project import Model, Project
from sluice.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from google.cloud import bigquery
    from pyarrow import fs

OFF = f"publishing to BigQuery is off: set {ENV_PREFIX}BIGQUERY_PROJECT to publish"
PARTITION_COLUMN = "dt"
# The marts' column types (sluice.marts.spec.SPARK_TYPES) as BigQuery's standard SQL names them.
BIGQUERY_TYPES = {
    "bigint": "INT64",
    "int": "INT64",
    "double": "FLOAT64",
    "string": "STRING",
    "boolean": "BOOL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
_NOT_IN_JOB_ID = re.compile(r"[^A-Za-z0-9_-]")  # a job id: letters, digits, `_` and `-`, at most 1,024 characters
_NOT_IN_LABEL = re.compile(r"[^a-z0-9_-]")  # a label value: lower-case letters, digits, `_` and `-`, at most 63
_LABEL_MAX = 63
_LOAD_ATTEMPTS = 20  # job ids a run may use for one partition: the first, then one per failed load


class BigQueryError(RuntimeError):
    """Publishing or querying could not be done as asked; the message says why and what to change."""


class QueryTooExpensive(BigQueryError):
    """A query's dry run would process more bytes than `bigquery_max_query_bytes` allows."""


@dataclass(frozen=True)
class Loaded:
    """One published partition: `partition` is `project.dataset.table$YYYYMMDD`; rows are the job's output rows."""

    mart: str
    day: date
    partition: str
    job_id: str
    rows: int


def bigquery_type(spark_type: str) -> str:
    if spark_type not in BIGQUERY_TYPES:
        raise BigQueryError(f"no BigQuery type for the column type {spark_type!r}; add it to BIGQUERY_TYPES")
    return BIGQUERY_TYPES[spark_type]


def chosen_marts(project: Project, names: Iterable[str]) -> list[Model]:
    """The named marts of the project, or an error naming the unknown ones and the valid ones."""
    marts = {model.name: model for model in project.marts}
    unknown = [name for name in names if name not in marts]
    if unknown:
        raise BigQueryError(
            f"not marts of the project: {', '.join(unknown)} (check {ENV_PREFIX}BIGQUERY_MARTS or --mart); "
            f"the marts are: {', '.join(sorted(marts))}"
        )
    return [marts[name] for name in names]


def client(settings: Settings) -> bigquery.Client:
    """A client for the settings' project and location: Application Default Credentials, or anonymous ones for the
    test stand-in at `bigquery_api_endpoint`."""
    from google.cloud import bigquery

    if not settings.bigquery_project:
        raise BigQueryError(OFF)
    if settings.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=settings.bigquery_project,
            location=settings.bigquery_location,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": settings.bigquery_api_endpoint},
        )
    return bigquery.Client(project=settings.bigquery_project, location=settings.bigquery_location)


def table_id(settings: Settings, mart: str) -> str:
    return f"{settings.bigquery_project}.{settings.bigquery_dataset}.{mart}"


def partition_id(settings: Settings, mart: str, day: date) -> str:
    """The partition decorator `project.dataset.table$YYYYMMDD`: a load or a read of that one day."""
    return f"{table_id(settings, mart)}${day:%Y%m%d}"


def job_id(run_id: str, settings: Settings, mart: str, day: date, fingerprint: str) -> str:
    """The same run loading the same content into the same partition always gets the same job id."""
    key = "\n".join((run_id, settings.bigquery_dataset, mart, f"{day:%Y%m%d}", fingerprint))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return _NOT_IN_JOB_ID.sub("_", f"sluice_{mart}_{day:%Y%m%d}_{digest}")


def label_value(text: str) -> str:
    """Text as a label value; a value too long is cut and keeps a hash of the whole, so it stays distinct."""
    value = _NOT_IN_LABEL.sub("_", text.lower())
    if len(value) <= _LABEL_MAX:
        return value
    return f"{value[: _LABEL_MAX - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def labels(run_id: str, mart: str, day: date) -> dict[str, str]:
    """What every load of a run carries, to find its jobs and their cost in the console and the billing export."""
    return {"sluice_run": label_value(run_id), "sluice_mart": label_value(mart), "sluice_dt": f"{day:%Y%m%d}"}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def table_of(settings: Settings, model: Model) -> bigquery.Table:
    """The mart's table as its YAML describes it: columns, types, descriptions, partitioned by day on `dt`."""
    from google.cloud import bigquery

    schema = [
        bigquery.SchemaField(c.name, bigquery_type(c.type), mode="NULLABLE", description=_one_line(c.description))
        for c in model.spec.columns
    ]
    table = bigquery.Table(table_id(settings, model.name), schema=schema)
    table.description = _one_line(model.spec.description)
    table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN)
    return table


def _described(table: bigquery.Table) -> tuple[Any, ...]:
    return table.description, [(f.name, f.field_type, f.description) for f in table.schema]


def ensure_table(bq: bigquery.Client, settings: Settings, model: Model) -> bigquery.Table:
    """Create the mart's table if it is missing; bring its descriptions up to date if the YAML changed them."""
    from google.api_core.exceptions import NotFound

    wanted = table_of(settings, model)
    try:
        table = bq.get_table(wanted.reference)
    except NotFound:
        try:
            return bq.create_table(wanted, exists_ok=True)
        except NotFound as error:  # the dataset: Terraform creates it, with its key and its loader's access
            raise BigQueryError(
                f"dataset {settings.bigquery_project}.{settings.bigquery_dataset} not found ({error.message}); "
                "create it with terraform/modules/bigquery or set SLUICE_BIGQUERY_DATASET"
            ) from error
    if _described(table) != _described(wanted):
        table.description, table.schema = wanted.description, wanted.schema
        table = bq.update_table(table, ["description", "schema"])
    return table


def read_partition(filesystem: fs.FileSystem, settings: Settings, model: Model, day: date) -> pa.Table:
    """The published partition's rows, in the YAML's column order, with `dt` (absent from the files) appended."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs

    folder = f"{settings.lake_bucket}/{lake.partition_prefix(model.layer, model.name, day)}".rstrip("/")
    found = filesystem.get_file_info(fs.FileSelector(folder, allow_not_found=True))
    # Part files only: `_SUCCESS`, `.crc` and other hidden names are Hadoop's bookkeeping, not data.
    paths = sorted(f.path for f in found if f.type == fs.FileType.File and not f.base_name.startswith(("_", ".")))
    if not paths:
        raise BigQueryError(
            f"{model.name} has no Parquet files for dt={day} in s3://{folder}/: it was not published for that day "
            f"(`sluice marts build {model.name} --date {day}` publishes it)"
        )
    columns = [c.name for c in model.spec.columns if c.name != PARTITION_COLUMN]
    parts = []
    for path in paths:
        with filesystem.open_input_file(path) as file:
            part = pq.read_table(file)
        missing = sorted(set(columns) - set(part.column_names))
        if missing:
            spec = model.sql_path.with_suffix(".yml")
            raise BigQueryError(f"{path} lacks the columns {missing} of {spec}; rebuild the partition")
        parts.append(part.select(columns))
    rows = pa.concat_tables(parts, promote_options="default")
    return rows.append_column(pa.field(PARTITION_COLUMN, pa.date32()), pa.array([day] * rows.num_rows, pa.date32()))


def parquet_body(rows: pa.Table) -> bytes:
    """One Parquet file of the rows; timestamps in microseconds, BigQuery's precision."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(rows, sink, coerce_timestamps="us", allow_truncated_timestamps=True)
    return sink.getvalue()


def load_partition(bq: bigquery.Client, settings: Settings, mart: str, day: date, run_id: str, body: bytes) -> Loaded:
    """Replace the mart's partition of `day` with the Parquet body, in one load job with a deterministic id."""
    from google.api_core.exceptions import Conflict, GoogleAPICallError
    from google.cloud import bigquery

    destination = partition_id(settings, mart, day)
    first = job_id(run_id, settings, mart, day, hashlib.sha256(body).hexdigest())
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,  # with the decorator: exactly this partition
        time_partitioning=bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN),
        labels=labels(run_id, mart, day),
    )
    # A task's retry or a Clear runs again under the same run id: it walks the same sequence of job ids, waits for
    # one that exists and did not fail (its earlier try's answer was lost), and loads under the first id left free.
    for attempt in range(_LOAD_ATTEMPTS):
        job = first if attempt == 0 else f"{first}_{attempt}"
        try:
            load: bigquery.LoadJob | bigquery.UnknownJob = bq.load_table_from_file(
                io.BytesIO(body), destination, size=len(body), job_id=job, location=settings.bigquery_location,
                job_config=config,
            )  # fmt: skip
        except Conflict:  # an earlier request made this job and its answer was lost: that job is the load
            existing = cast("bigquery.LoadJob", bq.get_job(job, location=settings.bigquery_location))
            if existing.state == "DONE" and existing.error_result:  # an earlier try's load failed: load anew
                continue
            print(f"{destination}: load job {job} exists already (a retried request); waiting for it", flush=True)
            load = existing
        break
    else:
        raise BigQueryError(f"{_LOAD_ATTEMPTS} load jobs into {destination} under run {run_id} failed ({first}…)")
    try:
        load.result()
    except GoogleAPICallError as error:
        raise BigQueryError(
            f"load job {job} into {destination} failed: {error.message}. A retry or a Clear of the task loads "
            "again under the next job id, once the cause is fixed"
        ) from error
    rows = int(getattr(load, "output_rows", None) or 0)
    return Loaded(mart, day, destination, job, rows)


def publish(
    settings: Settings, marts: list[str], day: date, run_id: str, *, filesystem: fs.FileSystem | None = None
) -> list[Loaded]:
    """Replace `day`'s partition of each mart in BigQuery with the lake's, creating tables as needed. Every
    partition is read before anything loads, so a missing one fails the publish without loading the others."""
    from sluice.marts.project import load_project
    from sluice.objectstore import arrow_filesystem

    if not settings.bigquery_project:
        raise BigQueryError(OFF)
    models = chosen_marts(load_project(), marts)
    lake_fs = filesystem if filesystem is not None else arrow_filesystem(settings)
    bodies = {model.name: parquet_body(read_partition(lake_fs, settings, model, day)) for model in models}
    bq = client(settings)
    loaded = []
    for model in models:
        ensure_table(bq, settings, model)
        loaded.append(load_partition(bq, settings, model.name, day, run_id, bodies[model.name]))
    return loaded


def partition_rows(bq: bigquery.Client, settings: Settings, mart: str, day: date) -> int:
    """Rows in the mart's partition of `day`, from the partition's metadata: free, no query."""
    return int(bq.get_table(partition_id(settings, mart, day)).num_rows or 0)


def guarded_query(
    bq: bigquery.Client, settings: Settings, sql: str, parameters: list[Any] | None = None
) -> list[bigquery.Row]:
    """Run a query only if its dry run stays within `bigquery_max_query_bytes`; every Sluice query goes through here.
    The limit is also the job's maximum bytes billed, so BigQuery itself refuses if the estimate was low."""
    from google.cloud import bigquery

    dry = bq.query(
        sql, job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False, query_parameters=parameters or [])
    )
    scanned, limit = int(dry.total_bytes_processed or 0), settings.bigquery_max_query_bytes
    if scanned > limit:
        raise QueryTooExpensive(
            f"refused: the query would process {scanned:,} bytes, over the limit of {limit:,} bytes "
            f"({ENV_PREFIX}BIGQUERY_MAX_QUERY_BYTES); filter it on dt or raise the limit. Query: {_one_line(sql)[:300]}"
        )
    config = bigquery.QueryJobConfig(maximum_bytes_billed=limit, query_parameters=parameters or [])
    return list(bq.query(sql, job_config=config).result())
