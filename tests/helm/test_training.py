from __future__ import annotations

import yaml

from sluice.settings import Settings
from tests.helm.conftest import find, one, render_ci

DEFAULTS = Settings.model_fields


def pod_template() -> dict:
    config_map = one(render_ci("gpu-values.yaml"), "ConfigMap", "sluice-training-pod-template")
    return yaml.safe_load(config_map["data"]["pod_template.yaml"])


def test_training_is_off_until_enabled() -> None:
    assert not find(render_ci("minimal-values.yaml"), "ConfigMap", "sluice-training-pod-template")
    assert not find(render_ci("production-values.yaml"), "ConfigMap", "sluice-training-pod-template")


def test_pod_runs_only_on_the_gpu_pool_sluice_names() -> None:
    spec = pod_template()["spec"]
    assert spec["nodeSelector"] == DEFAULTS["k8s_gpu_node_selector"].default
    assert spec["tolerations"] == [
        {"key": DEFAULTS["k8s_gpu_toleration_key"].default, "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_pod_asks_for_one_gpu_and_runs_the_ml_image() -> None:
    pod = pod_template()
    container = pod["spec"]["containers"][0]
    assert container["name"] == "base"  # KubernetesPodOperator's container name
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["image"] == DEFAULTS["ml_image"].default
    assert pod["spec"]["serviceAccountName"] == "sluice-training"
    assert [r.get("configMapRef", r.get("secretRef"))["name"] for r in container["envFrom"]] == [
        DEFAULTS["k8s_settings_config_map"].default,
        DEFAULTS["k8s_settings_secret"].default,
    ]
