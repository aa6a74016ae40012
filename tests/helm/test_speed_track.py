from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from sluice.orchestration.jobs import SparkJob
from sluice.settings import load_settings
from tests.helm.conftest import REQUIRED_SETTINGS, crd_schema, find, one, render_chart, render_ci

ON = {"speedTrack": {"enabled": True}}


def chart_application(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return one(
        render_chart({**ON, **(values or {})}, show_only=["templates/speed-track.yaml"]),
        "SparkApplication",
        "speed-track",
    )


def python_application(**settings: Any) -> dict[str, Any]:
    secrets = {"s3_access_key": "x", "s3_secret_key": "x", "postgres_password": "x"}
    return SparkJob.speed_track().spark_application(
        load_settings(profile="k8s", **REQUIRED_SETTINGS, **secrets, **settings)
    )


def env_from_names(role: dict[str, Any]) -> list[str]:
    return [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in role["envFrom"]]


def test_speed_track_is_opt_in_and_on_in_production() -> None:
    assert not find(render_ci("minimal-values.yaml"), "SparkApplication")
    assert find(render_ci("production-values.yaml"), "SparkApplication", "speed-track")


@pytest.mark.parametrize(
    "settings", [{}, {"k8s_spark_executors": 4, "speed_driver_memory": "3g", "spark_shuffle_partitions": 32}]
)
def test_chart_renders_what_python_renders(settings: dict[str, Any]) -> None:
    chart = chart_application({"settings": {**REQUIRED_SETTINGS, **settings}})
    python = python_application(**settings)
    assert chart["metadata"]["name"] == python["metadata"]["name"]
    assert python["metadata"]["labels"].items() <= chart["metadata"]["labels"].items()
    same = ("type", "pythonVersion", "mode", "image", "imagePullPolicy", "mainApplicationFile", "arguments",
            "sparkVersion", "restartPolicy", "sparkConf")  # fmt: skip
    assert {k: chart["spec"].get(k) for k in same} == {k: python["spec"].get(k) for k in same}
    assert "timeToLiveSeconds" not in chart["spec"]  # long-running: the operator restarts it, nothing expires it
    for role, keys in (("driver", ("cores", "memory", "labels", "envFrom", "envVars")),
                       ("executor", ("instances", "cores", "memory", "labels", "envFrom", "envVars"))):  # fmt: skip
        assert {k: chart["spec"][role][k] for k in keys} == {k: python["spec"][role][k] for k in keys}
        assert env_from_names(chart["spec"][role]) == ["sluice-settings", "sluice-secrets"]


def test_driver_and_executors_run_as_the_speed_tracks_own_account() -> None:
    spec = chart_application()["spec"]
    assert spec["driver"]["serviceAccount"] == "sluice-speed-track"
    assert spec["executor"]["serviceAccount"] == "sluice-speed-track"


def test_python_renders_the_speed_tracks_account_too() -> None:
    for pod in ("driver", "executor"):
        assert python_application()["spec"][pod]["serviceAccount"] == chart_application()["spec"][pod]["serviceAccount"]


@pytest.mark.parametrize("values_file", ["production-values.yaml"])
def test_rendered_application_is_valid_against_the_crd(values_file: str) -> None:
    application = one(render_ci(values_file), "SparkApplication", "speed-track")
    jsonschema.validate(application, crd_schema())


def test_crd_schema_catches_a_wrong_field() -> None:  # the check above can fail
    application = chart_application()
    application["spec"]["driver"]["cores"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(application, crd_schema())
