"""The SQL endpoint's Spark conf: the jobs' conf with the reader's identities, and none of the writer's secrets."""

from __future__ import annotations

from pathlib import Path

from sluice.settings import load_settings
from sluice.spark import session_conf
from sluice.stack.spark import thrift_conf, write_properties


def test_the_endpoint_reads_as_the_reader_and_knows_no_writer_secret() -> None:
    settings = load_settings(
        s3_access_key="writer-s3-key", s3_secret_key="writer-s3-secret", postgres_password="writer-pg-secret"
    )
    conf = thrift_conf(settings)
    assert conf["spark.hadoop.fs.s3a.access.key"] == settings.secret("s3_reader_access_key")
    assert conf["spark.hadoop.fs.s3a.secret.key"] == settings.secret("s3_reader_secret_key")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionUserName"] == settings.postgres_reader_user
    assert conf["spark.hadoop.javax.jdo.option.ConnectionPassword"] == settings.secret("postgres_reader_password")
    assert not {"writer-s3-key", "writer-s3-secret", "writer-pg-secret", settings.postgres_user} & set(conf.values())
    assert all(conf[key] == "false" for key in conf if key.startswith("spark.hadoop.datanucleus.schema.autoCreate"))


def test_everything_else_is_the_jobs_conf() -> None:
    settings = load_settings()
    jobs, endpoint = session_conf(settings), thrift_conf(settings)
    assert set(jobs) <= set(endpoint)
    differing = {key for key in jobs if jobs[key] != endpoint[key]}
    assert differing <= {
        "spark.driver.memory",
        "spark.hadoop.fs.s3a.access.key",
        "spark.hadoop.fs.s3a.secret.key",
        "spark.hadoop.javax.jdo.option.ConnectionUserName",
        "spark.hadoop.javax.jdo.option.ConnectionPassword",
        "spark.hadoop.datanucleus.schema.autoCreateTables",
        "spark.hadoop.datanucleus.schema.autoCreateColumns",
    }
    assert endpoint["spark.hadoop.hive.server2.thrift.bind.host"] == "127.0.0.1"
    assert endpoint["spark.hadoop.hive.server2.thrift.port"] == str(settings.spark_thrift_port)


def test_the_properties_file_is_its_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "spark.conf"
    write_properties(path, {"b.key": "x\\y", "a.key": "s3a://lake/warehouse"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == "a.key=s3a://lake/warehouse\nb.key=x\\\\y\n"
