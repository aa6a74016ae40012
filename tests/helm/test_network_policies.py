from __future__ import annotations

from typing import Any

import pytest

from tests.helm.conftest import HelmFailed, find, one, render_chart, render_ci

KAFKA = {"cidrs": ["10.20.0.0/16"], "ports": [9098]}
S3 = {"cidrs": ["52.218.0.0/17"], "except": [], "port": 443}
VALUES = {"network": {"kafka": KAFKA, "s3": S3, "superset": {"podSelector": {"app": "superset"}}}}
SHOW = ["templates/network-policies.yaml"]


def policies(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return render_chart(values or VALUES, show_only=SHOW)


def destinations(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(peer["ipBlock"]["cidr"], port["port"]) for peer in rule["to"] for port in rule["ports"]}


def test_everything_of_sluices_is_denied_by_default() -> None:
    deny = one(policies(), "NetworkPolicy", "sluice-default-deny")
    assert deny["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "sluice"}}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]


def test_every_sluice_pod_may_resolve_names() -> None:
    dns = one(policies(), "NetworkPolicy", "sluice-allow-dns")
    assert dns["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "sluice"}}
    [rule] = dns["spec"]["egress"]
    assert rule["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_sink_talks_only_to_kafka_and_s3() -> None:
    sink = one(policies(), "NetworkPolicy", "sluice-sink")
    assert sink["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "sink"
    assert sink["spec"]["policyTypes"] == ["Egress"]  # ingress stays denied
    allowed = set().union(*(destinations(rule) for rule in sink["spec"]["egress"]))
    assert allowed == {("10.20.0.0/16", 9098), ("52.218.0.0/17", 443)}


def test_sql_endpoint_accepts_only_superset_on_10000() -> None:
    sql = one(policies(), "NetworkPolicy", "sluice-sql-endpoint")
    [rule] = sql["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "superset"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 10000}]
    allowed = set().union(*(destinations(rule) for rule in sql["spec"]["egress"]))
    assert {port for _, port in allowed} == {443, 5432}


def test_spark_pods_talk_to_each_other_and_the_api_lake_kafka_and_metastore() -> None:
    spark = one(policies(), "NetworkPolicy", "sluice-spark")
    selector = spark["spec"]["podSelector"]
    assert selector["matchExpressions"] == [{"key": "spark-role", "operator": "In", "values": ["driver", "executor"]}]
    assert spark["spec"]["ingress"] == [{"from": [{"podSelector": selector}]}]
    egress = spark["spec"]["egress"]
    assert egress[0] == {"to": [{"podSelector": selector}]}
    assert {port for rule in egress[1:] for _, port in destinations(rule)} == {443, 9098, 5432}


def test_sluices_spark_applications_are_selected() -> None:
    application = one(render_ci("production-values.yaml"), "SparkApplication", "speed-track")
    selector = one(render_ci("production-values.yaml"), "NetworkPolicy", "sluice-spark")["spec"]["podSelector"]
    assert selector["matchLabels"].items() <= application["spec"]["driver"]["labels"].items()


def test_the_default_s3_range_leaves_out_private_addresses() -> None:
    sink = one(render_ci("minimal-values.yaml"), "NetworkPolicy", "sluice-sink")
    s3 = next(r for r in sink["spec"]["egress"] if r["ports"] == [{"protocol": "TCP", "port": 443}])
    assert s3["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}]


def test_an_empty_destination_list_is_refused_it_would_allow_everything() -> None:
    with pytest.raises(HelmFailed, match=r"/network/kafka/cidrs"):
        render_chart({"network": {"kafka": {"cidrs": [], "ports": [9098]}}})


def test_every_ci_file_has_the_default_deny() -> None:
    for values_file in ("minimal-values.yaml", "production-values.yaml", "gpu-values.yaml"):
        assert find(render_ci(values_file), "NetworkPolicy", "sluice-default-deny")
