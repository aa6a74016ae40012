"""Spark sessions that read and write the lake over s3a, configured only from Sluice settings.

Jobs call `spark_session()`. With a Spark Connect URL (`settings.spark_remote`, the local profile's warm server) it
is a thin client of that server; without one (inside a SparkApplication on Kubernetes) it is a classic session whose
JVM runs in the job's own process. The server and classic sessions take their configuration from one function,
`session_conf`, so the two cannot drift.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sluice import lake
from sluice.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkUnavailable(RuntimeError):
    """The Spark Connect server does not answer; a retry after it is back may succeed."""


def extra_jars(settings: Settings) -> list[Path]:
    """Jars from `settings.spark_jars_dir` that the pyspark wheel does not already carry.

    Maven copies hadoop-aws and the Kafka source with their whole dependency tree; jars the
    wheel ships too (scala-library, slf4j, snappy...) are left out so one version of each loads.
    A Spark image (k8s) carries its jars itself and sets no folder.
    """
    import pyspark

    if settings.spark_jars_dir is None:
        return []

    def artifact(jar: Path) -> str:
        return jar.name.rsplit("-", 1)[0]

    bundled = {artifact(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return sorted(jar for jar in settings.spark_jars_dir.glob("*.jar") if artifact(jar) not in bundled)


def s3a_conf(settings: Settings, *, reader: bool = False) -> dict[str, str]:
    """s3a to the lake's object store, with the jobs' identity or (reader=True) the analysts' read-only one."""
    prefix = "s3_reader" if reader else "s3"
    return {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": settings.s3_url,
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3_url.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": settings.secret(f"{prefix}_access_key"),  # type: ignore[arg-type]
        "spark.hadoop.fs.s3a.secret.key": settings.secret(f"{prefix}_secret_key"),  # type: ignore[arg-type]
    }


def metastore_conf(settings: Settings) -> dict[str, str]:
    """A Hive metastore in PostgreSQL, so jobs, tests and the Thrift Server share one catalog at once.

    (Spark's default, an embedded Derby database, admits one process at a time.) DataNucleus creates the
    metastore's tables on first use.
    """
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{settings.lake_uri}/{lake.WAREHOUSE}",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:postgresql://{settings.postgres_host}:{settings.postgres_port}/{settings.metastore_database}"
        ),
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "spark.hadoop.javax.jdo.option.ConnectionUserName": settings.postgres_user,
        "spark.hadoop.javax.jdo.option.ConnectionPassword": settings.secret("postgres_password"),
        # Tables and columns, but no foreign keys: DataNucleus adds a key lazily while another of its
        # connections holds a row lock on the referenced table, and both wait forever.
        "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
        "spark.hadoop.datanucleus.schema.autoCreateColumns": "true",
        "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }


def session_conf(settings: Settings, *, catalog: bool = True) -> dict[str, str]:
    """Everything a Sluice Spark driver is configured with: a classic session's, and the Connect server's."""
    jars = extra_jars(settings)
    conf = {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",  # an overwrite replaces only its partitions
        "spark.scheduler.mode": "FAIR",  # concurrent jobs (two Airflow tasks on one server) share the cores
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if jars:
        conf["spark.jars"] = ",".join(str(jar) for jar in jars)
        # On the driver JVM's own class path too: the metastore client loads its JDBC driver from there, and a server
        # runs statements under per-session class loaders, through which the AWS SDK's shaded commons-logging, once
        # loaded by one session, fails in the next with NoClassDefFoundError (LogFactoryImpl$3).
        conf["spark.driver.extraClassPath"] = ":".join(str(jar) for jar in jars)
    return conf | s3a_conf(settings) | (metastore_conf(settings) if catalog else {})


def spark_session(settings: Settings, app_name: str = "sluice") -> SparkSession:
    """The job's session: a Connect client when `settings.spark_remote` is set, else a classic session."""
    if settings.spark_remote:
        return connect_session(settings.spark_remote)
    return classic_session(settings, app_name)


def classic_session(settings: Settings, app_name: str = "sluice", *, catalog: bool = True) -> SparkSession:
    """A Spark driver in this process (getOrCreate), wired to the lake; with the Hive metastore unless
    catalog=False (tests on temp views only). The JVM starts with the first session, so every session of the
    process carries the same jars."""
    from pyspark.sql import SparkSession

    # Inherited from a parent process that used Spark Connect, these would make PySpark refuse a classic session.
    for variable in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE"):
        os.environ.pop(variable, None)
    # Python UDFs run in worker processes: the driver's interpreter, so they import what the job imports.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        # Keep the driver on loopback rather than whatever the hostname resolves to.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    for key, value in session_conf(settings, catalog=catalog).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")  # Spark's warnings would bury the one line that says what happened
    return session


def connect_session(url: str) -> SparkSession:
    """A new session on the Spark Connect server at `url`; fails at once, naming the URL, when nothing answers
    (the client's own retries would otherwise wait minutes)."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.client.retries import DefaultPolicy

    require_server(url)
    session = SparkSession.builder.remote(url).create()
    # Ride out a hiccup (about 25 s of backoff), not the default ten minutes: a server that is gone should fail the
    # job soon, with `SparkUnavailable` naming it, so that Airflow's retry or a Clear can run it again.
    session.client.set_retry_policies([DefaultPolicy(max_retries=6, max_backoff=10_000)])
    return session


def require_server(url: str, timeout: float = 5.0) -> None:
    address = urlparse(url)
    try:
        socket.create_connection((address.hostname, address.port or 15002), timeout=timeout).close()
    except OSError as error:
        raise SparkUnavailable(
            f"the Spark Connect server at {url} does not answer ({error.strerror or error}); "
            "start it with `sluice up` (or set SLUICE_SPARK_REMOTE to a running server), then clear the task"
        ) from None


def session_id(spark: SparkSession) -> str | None:
    """The server-side id of a Spark Connect session; None for a classic session."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return spark.session_id if isinstance(spark, ConnectSession) else None


def interrupt_tag(url: str, session_id: str, tag: str, timeout: float = 120.0) -> list[str]:
    """Interrupt the operations tagged `tag` that a client's session still runs on the server, asking again until
    the server has none left to interrupt. A client killed mid-job leaves its operations running on the server; this
    ends them. The session itself stays open: its client may be alive, and idle sessions expire on the server by
    themselves. Returns the interrupted operation ids (none when the session was closed or no longer exists)."""
    import time

    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    require_server(url)
    session = SparkSession.builder.remote(f"{url.rstrip('/')}/;session_id={session_id}").create()
    interrupted: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while running := session.interruptTag(tag):
            interrupted += [op for op in running if op not in interrupted]
            if time.monotonic() > deadline:
                raise SparkUnavailable(f"operations {running} tagged {tag} of Spark session {session_id} go on")
            time.sleep(0.5)
    except PySparkException as error:
        if "SESSION_CLOSED" not in str(error):  # a closed session ran to its end: nothing is left running
            raise
    return interrupted
