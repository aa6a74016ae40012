from __future__ import annotations

import pytest

from tests.helm.conftest import CI_VALUES, pod_specs, render_ci


def containers(values_file: str) -> list[tuple[str, dict, dict]]:
    return [
        (f"{where}/{container['name']}", pod, container)
        for where, pod in pod_specs(render_ci(values_file))
        for container in pod.get("initContainers", []) + pod["containers"]
    ]


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_there_are_workloads_to_check(values_file: str) -> None:
    assert len(containers(values_file)) >= 2


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_every_container_has_requests_and_limits(values_file: str) -> None:
    for where, _, container in containers(values_file):
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where}: {bound}"


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_every_container_is_locked_down(values_file: str) -> None:
    for where, pod, container in containers(values_file):
        context = container["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert context["runAsNonRoot"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert not context.get("privileged"), where


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_only_spark_drivers_and_airflow_get_an_api_token(values_file: str) -> None:
    for where, pod in pod_specs(render_ci(values_file)):
        assert pod["automountServiceAccountToken"] is False, where
    accounts = {o["metadata"]["name"]: o for o in render_ci(values_file) if o["kind"] == "ServiceAccount"}
    tokens = {name for name, account in accounts.items() if account.get("automountServiceAccountToken", True)}
    assert tokens == {"sluice-spark", "sluice-speed-track", "sluice-airflow"}


def test_spark_application_pods_are_not_root_and_drop_all() -> None:
    application = next(o for o in render_ci("production-values.yaml") if o["kind"] == "SparkApplication")
    for role in ("driver", "executor"):
        spec = application["spec"][role]
        assert spec["podSecurityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
