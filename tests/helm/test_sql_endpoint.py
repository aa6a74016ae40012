from __future__ import annotations

import re
import shlex

from sluice.settings import load_settings
from sluice.stack.spark import thrift_conf
from tests.helm.conftest import one, render_chart, render_ci

SECRET_KEYS = {  # written from the Secret into a file, not onto the command line
    "spark.hadoop.fs.s3a.access.key": "SLUICE_S3_READER_ACCESS_KEY",
    "spark.hadoop.fs.s3a.secret.key": "SLUICE_S3_READER_SECRET_KEY",
    "spark.hadoop.javax.jdo.option.ConnectionPassword": "SLUICE_POSTGRES_READER_PASSWORD",
}
# Where the endpoint in a pod differs from the local one: it listens on the pod's address, not on loopback.
IN_A_POD = {"spark.hadoop.hive.server2.thrift.bind.host": "0.0.0.0"}


def endpoint(objects: list[dict]) -> tuple[dict, dict]:
    return one(objects, "Deployment", "sluice-sql-endpoint"), one(objects, "Service", "sluice-sql-endpoint")


def chart_conf(container: dict) -> dict[str, str]:
    """The --conf pairs of the start script, and the secret keys its properties file holds."""
    script = container["args"][0]
    words = shlex.split(script.replace("\\\n", " "))
    conf = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "--conf")
    for key, variable in re.findall(r"printf '([^=]+)=%s\\n' \"\$(\w+)\"", script):
        conf[key] = f"${variable}"
    return conf


def test_endpoint_serves_hiveserver2_on_10000_with_tcp_probes() -> None:
    deployment, service = endpoint(render_chart(show_only=["templates/sql-endpoint.yaml"]))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert service["spec"]["ports"][0]["port"] == 10000
    assert container["ports"] == [{"name": "hiveserver2", "containerPort": 10000, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["tcpSocket"]["port"] == "hiveserver2"
    assert "HiveThriftServer2" in container["args"][0]
    assert "spark-submit" in container["args"][0]


def test_endpoint_conf_is_sluices_thrift_conf_with_the_readers_secrets_from_the_secret() -> None:
    values = {"s3_region": "eu-west-1", "postgres_host": "db.internal", "postgres_port": 5432}
    settings = {
        "kafka_bootstrap": "k:9098",
        "s3_endpoint": "https://s3.eu-west-1.amazonaws.com",
        "lake_bucket": "lake-1",
        **values,
    }
    deployment, _ = endpoint(render_chart({"settings": settings}, show_only=["templates/sql-endpoint.yaml"]))
    secrets = {name: "x" for name in ("s3_access_key", "s3_secret_key", "postgres_password", *(
        "s3_reader_access_key", "s3_reader_secret_key", "postgres_reader_password"))}  # fmt: skip
    expected = thrift_conf(load_settings(profile="k8s", **settings, **secrets)) | IN_A_POD
    expected |= {key: f"${variable}" for key, variable in SECRET_KEYS.items()}
    assert chart_conf(deployment["spec"]["template"]["spec"]["containers"][0]) == expected


def test_endpoint_gets_only_the_readers_secrets() -> None:
    deployment, _ = endpoint(render_chart(show_only=["templates/sql-endpoint.yaml"]))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "envFrom" not in container
    from_secret = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert from_secret == set(SECRET_KEYS.values())


def test_endpoint_runs_as_its_read_only_role() -> None:
    objects = render_ci("production-values.yaml")
    deployment, _ = endpoint(objects)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "sluice-sql-endpoint"
    account = one(objects, "ServiceAccount", "sluice-sql-endpoint")
    assert "sql_endpoint" in account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]


def test_endpoint_can_be_left_out() -> None:
    objects = render_chart({"sqlEndpoint": {"enabled": False}})
    assert not [o for o in objects if o["metadata"]["name"] == "sluice-sql-endpoint" and o["kind"] != "ServiceAccount"]
