"""One IAM role per component, assumable only by its own service account, allowed only its own lake zones.

Expected zones are written out here from the lake's layout (sluice/lake.py), not read from the policies."""

from __future__ import annotations

import re

import pytest

from sluice import lake
from sluice.settings import Settings
from tests.terraform.config import module, prod, ref, statements

PROD = prod()
LAKE = "${local.lake}"  # the lake bucket's ARN in iam.tf

SERVICE_ACCOUNTS = {  # as the Helm chart names them
    "sink": "sluice-sink",
    "spark_jobs": Settings.model_fields["k8s_spark_service_account"].default,
    "sql_endpoint": "sluice-sql-endpoint",
    "speed_track": "sluice-speed-track",
    "training": "sluice-training",
    "airflow": "sluice-airflow",
    "mlflow": "sluice-mlflow",
}
# What a build writes: the models' layers, staged results, refused rows, validation results, its records, the catalog.
BUILD_ZONES = (*lake.LAYERS, lake.STAGING, lake.QUARANTINE, lake.QUALITY, lake.BUILDS, lake.BUILD_SESSIONS)
SPARK_ZONES = (*BUILD_ZONES, lake.CATALOG, lake.WAREHOUSE)
PREDICTIONS = lake.table_location("marts", lake.PREDICTIONS)
SPEED_CHECKPOINTS = f"{lake.CHECKPOINTS}/{lake.SPEED}"  # lake.speed_checkpoint(family) is below it

PUTS = {
    "sink": {lake.RAW, lake.INGEST_STATE},
    "spark_jobs": set(SPARK_ZONES),
    "sql_endpoint": set(),
    "speed_track": {lake.SPEED, SPEED_CHECKPOINTS},
    "training": {lake.MODELS, PREDICTIONS},
    "airflow": {lake.RAW},  # compaction rewrites raw hours
    "mlflow": {lake.MODELS},
    "bigquery_publish": set(),
}
DELETES = PUTS | {
    "sink": set(),  # deterministic object names: a replay overwrites, never deletes
    "airflow": {lake.RAW, lake.QUARANTINE},  # compaction and the retention tasks
}
READS = {
    "sink": {lake.RAW, lake.INGEST_STATE},
    "spark_jobs": {lake.RAW, *SPARK_ZONES},
    "sql_endpoint": {"*"},
    "speed_track": {lake.SPEED, SPEED_CHECKPOINTS},
    "training": {"marts", "/".join(lake.NEW_LISTINGS), lake.MODELS},
    "airflow": {"*"},
    "mlflow": {lake.MODELS},
    "bigquery_publish": {"marts"},
}
WRITE_ACTION = re.compile(r"s3:(Put|Delete|Restore|Replicate|Abort|Bypass)|kafka-cluster:(Write|Alter|Create|Delete)")


def policy(component: str) -> list[dict]:
    return statements(PROD.data("aws_iam_policy_document", component))


def zones(component: str, action: str) -> set[str]:
    """The lake prefixes (without the trailing /*) on which the component's policy allows `action`."""
    found = set()
    for statement in policy(component):
        if action in statement["actions"]:
            for resource in statement["resources"]:
                assert resource.startswith(f"{LAKE}/"), f"{component}: {resource} is not in the lake"
                assert resource.endswith("*"), f"{component}: {resource} is not a prefix"
                found.add(resource.removeprefix(f"{LAKE}/").removesuffix("*").removesuffix("/") or "*")
    return found


def test_service_accounts_are_the_charts_in_sluices_namespace() -> None:
    assert PROD.variable("service_accounts")["default"] == SERVICE_ACCOUNTS
    assert PROD.variable("kubernetes_namespace")["default"] == Settings.model_fields["k8s_namespace"].default


def test_every_component_has_a_role_and_its_own_policy() -> None:
    policies = PROD.locals()["policies"]
    assert set(policies) == set(SERVICE_ACCOUNTS), "a policy per service account"
    assert all(ref(value) == f"data.aws_iam_policy_document.{name}.json" for name, value in policies.items())
    irsa = PROD.module("irsa")
    assert irsa["source"] == "../../modules/irsa"
    assert ref(irsa["for_each"]) == "local.roles"
    assert ref(irsa["namespace"]) == "var.kubernetes_namespace"
    assert ref(irsa["service_account"]) == "each.value.service_account"
    assert ref(irsa["oidc_provider_arn"]) == "module.eks.oidc_provider_arn"


def test_only_the_named_service_account_may_assume_a_role() -> None:
    irsa = module("irsa")
    (trust,) = statements(irsa.data("aws_iam_policy_document", "trust"))
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert trust["principals"] == [{"type": "Federated", "identifiers": ["${var.oidc_provider_arn}"]}]
    assert sorted(trust["condition"], key=lambda c: c["variable"]) == [
        {"test": "StringEquals", "variable": "${local.issuer}:aud", "values": ["sts.amazonaws.com"]},
        {
            "test": "StringEquals",
            "variable": "${local.issuer}:sub",
            "values": ["system:serviceaccount:${var.namespace}:${var.service_account}"],
        },
    ]
    assert ref(irsa.resource("aws_iam_role", "this")["assume_role_policy"]) == "data.aws_iam_policy_document.trust.json"


@pytest.mark.parametrize("component", PUTS)
def test_a_component_writes_only_its_own_zones(component: str) -> None:
    assert zones(component, "s3:PutObject") == PUTS[component]
    assert zones(component, "s3:DeleteObject") == DELETES[component]


@pytest.mark.parametrize("component", READS)
def test_a_component_reads_only_what_it_needs(component: str) -> None:
    assert zones(component, "s3:GetObject") == READS[component]


@pytest.mark.parametrize("component", READS)
def test_policies_allow_named_actions_only(component: str) -> None:
    for statement in policy(component):
        assert statement["effect"] == "Allow"
        assert all("*" not in action for action in statement["actions"]), statement
        assert "not_actions" not in statement
        assert "not_resources" not in statement


def test_the_sql_endpoint_only_reads() -> None:
    actions = {action for statement in policy("sql_endpoint") for action in statement["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    assert not any(WRITE_ACTION.match(action) for action in actions)


def test_the_sink_writes_raw_and_its_state_only() -> None:
    assert zones("sink", "s3:PutObject") == {lake.RAW, lake.INGEST_STATE}
    assert all(zone.startswith((f"{lake.RAW}", f"{lake.STATE}/")) for zone in zones("sink", "s3:PutObject"))


def test_training_writes_models_and_its_predictions_mart_only() -> None:
    assert zones("training", "s3:PutObject") == {lake.MODELS, PREDICTIONS}


def test_only_the_sink_produces_to_kafka_and_only_dead_letters() -> None:
    writers = {
        component: resource
        for component in READS
        for statement in policy(component)
        if "kafka-cluster:WriteData" in statement["actions"]
        for resource in statement["resources"]
    }
    assert writers == {"sink": "${local.kafka_topics}/${var.deadletter_topic}"}
    assert PROD.variable("deadletter_topic")["default"] == Settings.model_fields["deadletter_topic"].default


def test_only_the_sink_commits_offsets_and_only_for_its_group() -> None:
    groups = {
        component: statement["resources"]
        for component in READS
        for statement in policy(component)
        if "kafka-cluster:AlterGroup" in statement["actions"]
    }
    assert groups == {
        "sink": ["${local.kafka_groups}/${var.ingest_consumer_group}"],
        "speed_track": ["${local.kafka_groups}/spark-kafka-source-*"],  # Spark's generated group ids
    }
    assert PROD.variable("ingest_consumer_group")["default"] == Settings.model_fields["ingest_group"].default


def test_what_lands_later_waits_for_a_service_account() -> None:
    later = PROD.locals()["later"]
    assert {name: ref(entry["service_account"]) for name, entry in later.items()} == {
        "bigquery_publish": "var.bigquery_publisher_service_account",
        "secrets_sync": "var.secrets_sync_service_account",
    }
    for name in ("bigquery_publisher_service_account", "secrets_sync_service_account"):
        assert PROD.variable(name)["default"] is None
