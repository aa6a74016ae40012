"""The nightly model DAG: its order, its schedule on the training mart, and in k8s pods that validate against the
Kubernetes schemas, training's on the GPU pool with one GPU and the others without."""

from __future__ import annotations

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from sluice.marts.project import load_project
from sluice.orchestration.moderation_dag import TASKS, model_summary_message, moderation_dag
from sluice.settings import Settings, load_settings


def test_the_steps_run_in_order_after_the_training_mart_is_published() -> None:
    dag = moderation_dag(load_project(), load_settings())
    assert [task.task_id for task in dag.topological_sort()] == list(TASKS)
    assert dag.timetable.asset_condition.name == "sluice.mart_moderation_training"  # type: ignore[attr-defined]
    score = dag.get_task("score_new_listings")
    assert [outlet.name for outlet in score.outlets] == ["sluice.mart_listing_predictions"]
    assert not dag.is_paused_upon_creation


def _pods(settings: Settings) -> dict[str, dict]:
    dag = moderation_dag(load_project(), settings)
    rendered = {}
    for task_id in ("train_candidates", "register_and_promote", "score_new_listings"):
        pod = dag.get_task(task_id).build_pod_request_obj(dry_run=True)  # type: ignore[attr-defined]
        rendered[task_id] = ApiClient().sanitize_for_serialization(pod)
    return rendered


def test_k8s_pods_validate_and_only_training_asks_for_a_gpu_on_the_gpu_pool(k8s_settings: Settings) -> None:
    pods = _pods(k8s_settings)
    for pod in pods.values():
        kubernetes_validate.validate(pod, "1.33", strict=True)  # raises on any unknown or mistyped field
        container = pod["spec"]["containers"][0]
        assert container["image"] == k8s_settings.ml_image
        assert container["args"][:3] == ["-m", "sluice_ml.nightly", container["args"][2]]
        assert {source.get("configMapRef", source.get("secretRef"))["name"] for source in container["envFrom"]} == {
            "sluice-settings",
            "sluice-secrets",
        }
    train = pods["train_candidates"]
    assert train["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert train["spec"]["nodeSelector"] == {"sluice.dev/pool": "gpu"}
    assert train["spec"]["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    for task_id in ("register_and_promote", "score_new_listings"):
        assert "nvidia.com/gpu" not in str(pods[task_id]["spec"]), task_id
        assert not pods[task_id]["spec"].get("tolerations")


def test_a_pod_with_a_wrong_field_is_refused_by_the_schema(k8s_settings: Settings) -> None:
    pod = _pods(k8s_settings)["train_candidates"]
    pod["spec"]["containers"][0]["gpus"] = 1  # not a Kubernetes field: resources.limits is
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.33", strict=True)


def test_the_summary_says_promoted_or_kept_and_why() -> None:
    decision = {
        "ds": "2026-11-20", "model": "listing-moderation", "best": "linear", "version": "7", "champion": "6",
        "promoted": False, "reason": "macro-F1 0.9000 does not beat the champion's 0.9100", "device": "cpu",
        "profile": "tiny", "data": {"holdout_rows": 120},
        "candidates": {"linear": {"macro_f1": 0.9, "f1": {"normal": 0.99, "spam": 0.8}}},
    }  # fmt: skip
    text = model_summary_message(decision, {"rows": 300}, "run-1", 42.0, "http://airflow")["text"]
    assert "kept champion version 6; candidate version 7 is challenger" in text
    assert "does not beat the champion's 0.9100" in text
    assert "linear: macro-F1 0.900 (normal 0.99, spam 0.80)" in text
    assert "Scored 300 new listings with listing-moderation v6" in text
