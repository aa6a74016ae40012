"""Spark sessions that read and write the lake over s3a, configured only from Sluice settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.settings import Settings
from sluice.stack import prerequisites

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def extra_jars() -> list[Path]:
    """Jars from build/jars/spark that the pyspark wheel does not already carry.

    Maven copies hadoop-aws and the Kafka source with their whole dependency tree; jars the
    wheel ships too (scala-library, slf4j, snappy...) are left out so one version of each loads.
    """
    import pyspark

    def artifact(jar: Path) -> str:
        return jar.name.rsplit("-", 1)[0]

    bundled = {artifact(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return sorted(jar for jar in prerequisites.jar_dir("spark").glob("*.jar") if artifact(jar) not in bundled)


def s3a_conf(settings: Settings) -> dict[str, str]:
    return {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": settings.s3_url,
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3_url.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": settings.secret("s3_access_key"),
        "spark.hadoop.fs.s3a.secret.key": settings.secret("s3_secret_key"),
    }


def metastore_conf(settings: Settings) -> dict[str, str]:
    """A Hive metastore in PostgreSQL, so jobs, tests and the Thrift Server share one catalog at once.

    (Spark's default, an embedded Derby database, admits one process at a time.) DataNucleus creates the
    metastore's tables on first use.
    """
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{settings.lake_uri}/warehouse",
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


def spark_session(settings: Settings, app_name: str = "sluice", *, catalog: bool = True) -> SparkSession:
    """The process's Spark session (getOrCreate), wired to the lake; with the Hive metastore unless catalog=False
    (tests on temp views only). The JVM starts with the first session, so every session carries the same jars."""
    from pyspark.sql import SparkSession

    prerequisites.java_binary()
    if settings.spark_master.startswith("local"):
        # Keep the driver on loopback rather than whatever the hostname resolves to.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.jars", ",".join(str(jar) for jar in extra_jars()))
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")  # an overwrite replaces only its partitions
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    jdbc_driver = [str(jar) for jar in extra_jars() if jar.name.startswith("postgresql-")]
    builder = builder.config("spark.driver.extraClassPath", ":".join(jdbc_driver))  # seen by the metastore client
    for key, value in (s3a_conf(settings) | (metastore_conf(settings) if catalog else {})).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
