"""Every ci values file lints (--strict), renders, and every object is valid in kubeconform's strict mode: the
Kubernetes 1.34 schemas of the kubernetes-validate package, and the spark-operator's SparkApplication CRD."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helm.conftest import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    NAMESPACE,
    helm,
    kubeconform,
    render_ci,
    write_schemas,
)

# Objects each ci values file renders, counted by hand from the templates: a change in what the chart deploys
# shows up here.
EXPECTED_OBJECTS = {"minimal-values.yaml": 21, "production-values.yaml": 22, "gpu-values.yaml": 23}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    objects = [o for values_file in CI_VALUES for o in render_ci(values_file)]
    return write_schemas(tmp_path_factory.mktemp("kubeconform-schemas"), objects)


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_helm_lint_strict_passes(values_file: str) -> None:
    result = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                  "-f", str(CHART / "ci" / values_file))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_every_object_is_valid_in_strict_mode(values_file: str, schemas: Path) -> None:
    objects = render_ci(values_file)
    report = kubeconform(yaml.safe_dump_all(objects), schemas)
    summary = report["summary"]
    problems = [r for r in report.get("resources", []) if r["status"] != "statusValid"]
    assert problems == []
    assert report["returncode"] == 0
    assert summary == {"valid": len(objects), "invalid": 0, "errors": 0, "skipped": 0}
    assert len(objects) == EXPECTED_OBJECTS[values_file]


def test_kubeconform_refuses_an_unknown_field(schemas: Path) -> None:  # the check above can fail
    objects = render_ci("minimal-values.yaml")
    statefulset = next(o for o in objects if o["kind"] == "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    application = next(o for o in render_ci("production-values.yaml") if o["kind"] == "SparkApplication")
    application["spec"]["driver"]["serviceAcount"] = "typo"
    report = kubeconform(yaml.safe_dump_all([statefulset, application]), schemas)
    assert report["summary"]["invalid"] == 2, report
