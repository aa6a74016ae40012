"""The analysts' SQL endpoint (Spark Thrift Server) reads what the jobs wrote, and cannot change the lake or the
catalog: its S3 identity may only list and read, its PostgreSQL role may only SELECT from the metastore, and under root
its JVM runs as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
import pyarrow.dataset as ds
import pyarrow.fs
import pytest
from botocore.exceptions import ClientError
from pyhive import hive
from pyspark.sql import SparkSession

from sluice.objectstore import delete_keys, s3_client
from sluice.settings import Settings
from sluice.stack.process import require_free_ports, wait_until
from sluice.stack.services import ObjectStore
from sluice.stack.spark import SparkThriftServer

# (listing_id, title, price, dt): two partitions, a null and a non-ASCII title.
ROWS = [
    (1, "bike", 120.0, "2026-11-20"),
    (2, "vélo cargo", 80.5, "2026-11-20"),
    (3, "lamp", None, "2026-11-21"),
]


@pytest.fixture(scope="module")
def endpoint(stack: Settings) -> Iterator[Settings]:
    """The SQL endpoint, healthy: the stack's own if it runs, else one started here and stopped afterwards."""
    server = SparkThriftServer(stack)
    started = server.process.pid() is None
    if started:
        require_free_ports(server.name, server.ports())
        server.launch()
    if not wait_until(server.healthy, timeout=server.start_timeout if started else 10, interval=1):
        if started:
            server.process.stop(server.stop_signal)
        pytest.fail(f"the SQL endpoint is not healthy; its log ends with:\n{server.process.log_tail(40)}")
    yield stack
    if started:
        server.process.stop(server.stop_signal)


@contextmanager
def analyst(settings: Settings) -> Iterator[hive.Cursor]:
    """What an analyst's client does: PyHive to the endpoint's address, nothing from Sluice."""
    connection = hive.connect(host="127.0.0.1", port=settings.spark_thrift_port, username="analyst")
    try:
        yield connection.cursor()
    finally:
        connection.close()


@pytest.fixture
def listings(spark: SparkSession, stack: Settings) -> Iterator[str]:
    """A schema of this test's own holding `listings`, partitioned Parquet at s3a://lake/<schema>/t, written by the
    jobs' (writer) Spark; dropped afterwards with everything under s3a://lake/<schema>/."""
    schema = f"t{uuid.uuid4().hex[:12]}"
    lake = f"{stack.lake_uri}/{schema}"
    spark.sql(f"create database {schema} location '{lake}/catalog'")
    spark.sql(
        f"create table {schema}.listings (listing_id bigint, title string, price double, dt string) "
        f"using parquet partitioned by (dt) location '{lake}/t'"
    )
    values = ", ".join(
        f"({i}, '{title}', {'null' if price is None else price}, '{dt}')" for i, title, price, dt in ROWS
    )
    spark.sql(f"insert into {schema}.listings values {values}")
    yield schema
    for database in (f"{schema}_other", schema):
        spark.sql(f"drop database if exists {database} cascade")
    delete_keys(s3_client(stack), stack.lake_bucket, list(lake_objects(stack, f"{schema}/")))


def lake_objects(settings: Settings, prefix: str) -> dict[str, str]:
    """Key -> ETag of every object under prefix, listed with the writer's boto3."""
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=prefix)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def catalog(spark: SparkSession, schema: str) -> dict[str, object]:
    """The schema's databases, tables, each table's full description (columns, location, properties) and partitions,
    as the writer's Spark reads them from the metastore."""
    databases = sorted(row[0] for row in spark.sql(f"show databases like '{schema}*'").collect())
    found: dict[str, object] = {"databases": databases}
    for database in databases:
        # `show tables` also lists the session's temporary views (the builder's raw views): not the catalog's.
        for row in spark.sql(f"show tables in {database}").collect():
            if row.isTemporary:
                continue
            table = f"{database}.{row.tableName}"
            found[table] = [tuple(r) for r in spark.sql(f"describe table extended {table}").collect()]
            found[f"{table} partitions"] = [tuple(r) for r in spark.sql(f"show partitions {table}").collect()]
    return found


def read_parquet_directly(settings: Settings, prefix: str) -> list[tuple[object, ...]]:
    """The table's rows read from its Parquet objects with pyarrow, with no Spark and no catalog involved."""
    filesystem = pyarrow.fs.S3FileSystem(
        access_key=settings.secret("s3_reader_access_key"),
        secret_key=settings.secret("s3_reader_secret_key"),
        endpoint_override=settings.s3_url,
        region=settings.s3_region,
    )
    dataset = ds.dataset(
        f"{settings.lake_bucket}/{prefix}", filesystem=filesystem, format="parquet", partitioning="hive"
    )
    table = dataset.to_table(columns=["listing_id", "title", "price", "dt"])
    return sorted(zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True))


def test_the_endpoint_reads_back_the_rows_the_jobs_wrote(endpoint: Settings, listings: str) -> None:
    with analyst(endpoint) as cursor:
        cursor.execute(f"select listing_id, title, price, dt from {listings}.listings order by listing_id")
        assert cursor.fetchall() == ROWS
        cursor.execute(f"show tables in {listings}")
        assert [row[1] for row in cursor.fetchall()] == ["listings"]
    assert read_parquet_directly(endpoint, f"{listings}/t/") == ROWS


def test_sluice_sql_prints_the_rows_and_refuses_a_write_with_the_reason(endpoint: Settings, listings: str) -> None:
    sluice = str(Path(sys.executable).parent / "sluice")
    query = f"select listing_id, title, dt from {listings}.listings order by listing_id"
    shown = subprocess.run([sluice, "sql", query], capture_output=True, text=True, check=False, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert [line.split() for line in shown.stdout.splitlines()] == [
        ["listing_id", "title", "dt"],
        ["1", "bike", "2026-11-20"],
        ["2", "vélo", "cargo", "2026-11-20"],
        ["3", "lamp", "2026-11-21"],
    ]
    refused = subprocess.run(
        [sluice, "sql", f"drop table {listings}.listings"], capture_output=True, text=True, check=False, timeout=120
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: "), refused.stderr
    assert "read-only" in refused.stderr, refused.stderr


def error_message(error: hive.OperationalError) -> str:
    """The server's message for a failed statement (PyHive carries the whole Thrift response)."""
    response = error.args[0]
    return str(response.status.errorMessage) if hasattr(response, "status") else str(error)


def write_statements(schema: str) -> list[str]:
    """Every kind of write an analyst might try, in an order the writer can run them one after the other."""
    return [
        f"insert into {schema}.listings values (9, 'mallory', 1.0, '2026-11-22')",
        f"insert overwrite table {schema}.listings partition (dt = '2026-11-20') values (8, 'mallory', 2.0)",
        f"alter table {schema}.listings add columns (note string)",
        f"alter table {schema}.listings set tblproperties ('sluice.note' = 'mallory')",
        f"create table {schema}.other (a int) using parquet",
        f"create database {schema}_other location 's3a://lake/{schema}/other_db'",
        f"drop table {schema}.listings",
        f"drop database {schema} cascade",
    ]


def test_writes_through_the_endpoint_fail_and_change_nothing(
    endpoint: Settings, listings: str, spark: SparkSession
) -> None:
    lake_before, catalog_before = lake_objects(endpoint, f"{listings}/"), catalog(spark, listings)
    assert len(lake_before) >= 2  # two partitions' Parquet at least: the snapshot has something to lose
    assert f"{listings}.listings" in catalog_before

    accepted, refusals = [], {}
    with analyst(endpoint) as cursor:
        for statement in write_statements(listings):
            try:
                cursor.execute(statement)
            except hive.OperationalError as error:
                refusals[statement] = error_message(error)
            else:
                accepted.append(statement)
        assert accepted == []
        assert lake_objects(endpoint, f"{listings}/") == lake_before
        assert catalog(spark, listings) == catalog_before
        cursor.execute(f"select count(*) from {listings}.listings")
        assert cursor.fetchall() == [(len(ROWS),)]

    # The same statements are fine for the jobs' identity, and visibly change both snapshots: the refusals above
    # were the endpoint's rights, not mistakes in the SQL, and the snapshots would have seen a change.
    for statement in write_statements(listings):
        spark.sql(statement)
    assert lake_objects(endpoint, f"{listings}/") != lake_before
    assert catalog(spark, listings) != catalog_before
    print("\n".join(f"{statement}\n    -> {message.splitlines()[0]}" for statement, message in refusals.items()))


def test_the_endpoint_cannot_empty_a_local_folder_it_does_not_own(endpoint: Settings) -> None:
    """INSERT OVERWRITE LOCAL DIRECTORY empties a folder on the server's machine before writing; under root the server
    runs as an unprivileged user, so it cannot do that to the stack's files."""
    if os.geteuid() != 0:
        pytest.skip("not root: the endpoint runs as this user, who may write their own folders")
    with tempfile.TemporaryDirectory(prefix="sluice-") as folder:
        Path(folder).chmod(0o755)  # visible to the server's user, as the stack's folders are
        kept = Path(folder) / "keep.txt"
        kept.write_text("stack state")
        with analyst(endpoint) as cursor, pytest.raises(hive.OperationalError) as refused:
            cursor.execute(f"insert overwrite local directory '{folder}' using parquet select 1 as a")
        assert "Unable to clear output directory" in error_message(refused.value)
        assert [path.name for path in Path(folder).iterdir()] == ["keep.txt"]
        assert kept.read_text() == "stack state"


def test_the_reader_s3_identity_lists_and_reads_but_cannot_put_or_delete(stack: Settings, unique: str) -> None:
    writer, reader = s3_client(stack), s3_client(stack, reader=True, retries=0)
    key = f"{unique}/kept.txt"
    writer.put_object(Bucket=stack.lake_bucket, Key=key, Body=b"written by a job")
    try:
        listed = reader.list_objects_v2(Bucket=stack.lake_bucket, Prefix=f"{unique}/")
        assert [item["Key"] for item in listed["Contents"]] == [key]
        assert reader.get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read() == b"written by a job"

        bucket = stack.lake_bucket
        attempts: list[Callable[[], object]] = [
            lambda: reader.put_object(Bucket=bucket, Key=f"{unique}/new.txt", Body=b"x"),
            lambda: reader.put_object(Bucket=bucket, Key=key, Body=b"overwritten"),
            lambda: reader.delete_object(Bucket=bucket, Key=key),
            lambda: reader.copy_object(Bucket=bucket, Key=f"{unique}/copy.txt", CopySource=f"{bucket}/{key}"),
            lambda: reader.create_multipart_upload(Bucket=bucket, Key=f"{unique}/big.bin"),
        ]
        for attempt in attempts:
            with pytest.raises(ClientError) as refused:
                attempt()
            assert refused.value.response["Error"]["Code"] == "AccessDenied"
        # A batch delete answers 200 and lists each key it refused.
        batch = reader.delete_objects(Bucket=stack.lake_bucket, Delete={"Objects": [{"Key": key}]})
        assert [(e["Key"], e["Code"]) for e in batch.get("Errors", [])] == [(key, "AccessDenied")]
        assert "Deleted" not in batch

        assert list(lake_objects(stack, f"{unique}/")) == [key]
        assert writer.get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read() == b"written by a job"
    finally:
        writer.delete_object(Bucket=stack.lake_bucket, Key=key)


def metastore_as_reader(settings: Settings) -> psycopg2.extensions.connection:
    connection = psycopg2.connect(settings.postgres_dsn(settings.metastore_database, reader=True), connect_timeout=5)
    connection.autocommit = True
    return connection


def test_the_reader_postgres_role_selects_from_the_metastore_and_nothing_more(stack: Settings, unique: str) -> None:
    with closing(metastore_as_reader(stack)) as reader, reader.cursor() as cur:
        cur.execute("""select "NAME" from "DBS" where "NAME" = 'default'""")
        assert cur.fetchall() == [("default",)]
        # Each touches no row, so a role with too many rights fails the test without changing the shared catalog.
        for statement in (
            """insert into "DBS" select * from "DBS" where false""",
            """update "DBS" set "DESC" = 'mallory' where false""",
            """delete from "TABLE_PARAMS" where false""",
            """select * from "TBLS" where false for update""",  # the row locks a writing metastore client takes
            f"create table {unique} (a int)",
            f"create temporary table {unique} (a int)",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)

    # A table the writer (DataNucleus, as the stack's user) creates later is readable too: default privileges.
    with closing(psycopg2.connect(stack.postgres_dsn(stack.metastore_database))) as writer:
        writer.autocommit = True
        with writer.cursor() as cur:
            cur.execute(f"create table {unique} (a int)")
        try:
            with closing(metastore_as_reader(stack)) as reader, reader.cursor() as cur:
                cur.execute(f"select count(*) from {unique}")
                assert cur.fetchall() == [(0,)]
        finally:
            with writer.cursor() as cur:
                cur.execute(f"drop table {unique}")


def test_a_run_on_another_lake_adds_its_bucket_to_the_reader_and_keeps_the_stacks(stack: Settings, unique: str) -> None:
    """`sluice demo` on a bucket of its own runs `up` with it: the endpoint must still read the stack's lake."""
    other = stack.model_copy(update={"lake_bucket": unique})
    s3_client(stack).create_bucket(Bucket=unique)
    s3_client(other).put_object(Bucket=unique, Key="x.txt", Body=b"other lake")
    ObjectStore(other).after_healthy()
    reader = s3_client(stack, reader=True, retries=0)
    assert reader.get_object(Bucket=unique, Key="x.txt")["Body"].read() == b"other lake"
    reader.list_objects_v2(Bucket=stack.lake_bucket, MaxKeys=1)  # raises AccessDenied if the stack's lake was lost
    with pytest.raises(ClientError, match="AccessDenied"):
        reader.put_object(Bucket=unique, Key="y.txt", Body=b"no")
