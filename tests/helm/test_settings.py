from __future__ import annotations

import pytest

from sluice.settings import Settings
from tests.helm.conftest import NAMESPACE, REQUIRED_SETTINGS, HelmFailed, find, one, render_chart

SHOW = ["templates/settings.yaml"]


def test_config_map_has_the_name_sluice_reads_and_the_k8s_profile() -> None:
    config_map = one(
        render_chart(show_only=SHOW), "ConfigMap", Settings.model_fields["k8s_settings_config_map"].default
    )
    assert config_map["data"]["SLUICE_PROFILE"] == "k8s"
    assert config_map["data"]["SLUICE_K8S_NAMESPACE"] == NAMESPACE


def test_every_setting_becomes_a_sluice_variable_as_pydantic_settings_reads_it() -> None:
    settings = {**REQUIRED_SETTINGS, "ingest_flush_bytes": 67108864, "s3_region": "eu-west-1",
                "k8s_gpu_node_selector": {"sluice.dev/pool": "gpu"}, "ingest_flush_seconds": 12.5}  # fmt: skip
    data = one(render_chart({"settings": settings}, show_only=SHOW), "ConfigMap", "sluice-settings")["data"]
    assert data == {
        "SLUICE_PROFILE": "k8s",
        "SLUICE_K8S_NAMESPACE": NAMESPACE,
        "SLUICE_KAFKA_BOOTSTRAP": "b-1.kafka.test:9098",
        "SLUICE_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com",
        "SLUICE_LAKE_BUCKET": "test-lake",
        "SLUICE_INGEST_FLUSH_BYTES": "67108864",  # not 6.7108864e+07
        "SLUICE_S3_REGION": "eu-west-1",
        "SLUICE_K8S_GPU_NODE_SELECTOR": '{"sluice.dev/pool":"gpu"}',
        "SLUICE_INGEST_FLUSH_SECONDS": "12.5",
    }


def test_sluice_reads_the_config_map_back_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {
        **REQUIRED_SETTINGS,
        "ingest_flush_bytes": 67108864,
        "k8s_gpu_node_selector": {"sluice.dev/pool": "gpu"},
    }
    data = one(render_chart({"settings": settings}, show_only=SHOW), "ConfigMap", "sluice-settings")["data"]
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "POSTGRES_PASSWORD"):
        monkeypatch.setenv(f"SLUICE_{name}", "x")
    loaded = Settings()
    assert loaded.profile == "k8s"
    assert loaded.kafka_bootstrap == "b-1.kafka.test:9098"
    assert loaded.ingest_flush_bytes == 67108864
    assert loaded.k8s_gpu_node_selector == {"sluice.dev/pool": "gpu"}


def test_no_secret_by_default_production_copies_it_from_secrets_manager() -> None:
    assert find(render_chart(show_only=SHOW), "Secret") == []


def test_secret_from_values_under_the_name_sluice_reads() -> None:
    values = {
        "secrets": {"create": True, "values": {"s3_access_key": "a", "s3_secret_key": "b", "postgres_password": "c"}}
    }
    secret = one(render_chart(values, show_only=SHOW), "Secret", Settings.model_fields["k8s_settings_secret"].default)
    assert secret["stringData"] == {
        "SLUICE_S3_ACCESS_KEY": "a",
        "SLUICE_S3_SECRET_KEY": "b",
        "SLUICE_POSTGRES_PASSWORD": "c",
    }


def test_schema_refuses_a_secret_without_values() -> None:
    with pytest.raises(HelmFailed, match="secrets"):
        render_chart({"secrets": {"create": True, "values": {}}})


def test_schema_refuses_a_secret_in_the_config_map() -> None:
    with pytest.raises(HelmFailed, match="invalid propertyName 'postgres_password'"):
        render_chart({"settings": {**REQUIRED_SETTINGS, "postgres_password": "oops"}})


def test_schema_refuses_settings_the_chart_sets_itself() -> None:
    with pytest.raises(HelmFailed, match="invalid propertyName 'profile'"):
        render_chart({"settings": {**REQUIRED_SETTINGS, "profile": "local"}})
