"""Kafka on MSK: TLS everywhere, IAM as the only way in, private brokers reachable from the cluster only."""

from __future__ import annotations

from tests.terraform.config import module, prod, ref

MSK = module("msk")


def test_clients_authenticate_with_iam_only() -> None:
    auth = MSK.resource("aws_msk_cluster", "this")["client_authentication"][0]
    assert auth["sasl"] == [{"iam": True}]
    assert auth["unauthenticated"] is False
    assert "tls" not in auth, "IAM is the only client authentication"


def test_traffic_is_encrypted_in_transit_and_at_rest() -> None:
    encryption = MSK.resource("aws_msk_cluster", "this")["encryption_info"][0]
    assert encryption["encryption_in_transit"] == [{"client_broker": "TLS", "in_cluster": True}]
    assert ref(encryption["encryption_at_rest_kms_key_arn"]) == "var.kms_key_arn"
    assert ref(prod().module("msk")["kms_key_arn"]) == "aws_kms_key.platform.arn"


def test_brokers_are_private_and_open_only_on_the_iam_port() -> None:
    cluster = MSK.resource("aws_msk_cluster", "this")
    assert cluster["broker_node_group_info"][0]["connectivity_info"][0]["public_access"] == [{"type": "DISABLED"}]
    rules = MSK.resources("aws_vpc_security_group_ingress_rule")
    assert {(rule["from_port"], rule["to_port"]) for rule in rules.values()} == {(9098, 9098)}
    assert all("cidr_ipv4" not in rule and "referenced_security_group_id" in rule for rule in rules.values())
    assert prod().module("msk")["client_security_groups"] == {"eks": "${module.eks.cluster_security_group_id}"}


def test_topics_are_never_created_by_accident_and_stay_replicated() -> None:
    properties = MSK.resource("aws_msk_configuration", "this")["server_properties"]
    settings = dict(line.split(" = ") for line in properties.splitlines() if " = " in line)
    assert {key.strip(): value.strip() for key, value in settings.items()} == {
        "auto.create.topics.enable": "false",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
    }


def test_broker_logs_go_to_an_encrypted_log_group() -> None:
    logs = MSK.resource("aws_msk_cluster", "this")["logging_info"][0]["broker_logs"][0]["cloudwatch_logs"][0]
    assert logs["enabled"] is True
    assert ref(logs["log_group"]) == "aws_cloudwatch_log_group.brokers.name"
    assert ref(MSK.resource("aws_cloudwatch_log_group", "brokers")["kms_key_id"]) == "var.kms_key_arn"
