"""Every ci values file lints (--strict), renders, and every object is valid in kubeconform's strict mode: the
Kubernetes 1.34 schemas of the kubernetes-validate package, and the spark-operator's SparkApplication CRD."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helm.conftest import CHART, CI_VALUES, KUBE_VERSION, KUBECONFORM, NAMESPACE, helm, render_ci, tool
from tests.helm.test_speed_track import crd_schema

SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBE_VERSION}-local-strict"
# "/api/_definitions.json#/$defs/X" (the schemas) and "#/$defs/X" (the definitions) -> "#/definitions/X"
LOCAL_REF = re.compile(r'"[^"#]*(?:_definitions\.json)?#/(?:\$defs|definitions)/')
# Objects each ci values file renders, counted by hand from the templates: a change in what the chart deploys
# shows up here.
EXPECTED_OBJECTS = {"minimal-values.yaml": 21, "production-values.yaml": 22, "gpu-values.yaml": 23}


def kubeconform_file(kind: str, api_version: str) -> str:
    """kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}: the kind in lower case, -<group's first label>-<version>."""
    group, _, version = api_version.rpartition("/")
    return f"{kind.lower()}-{group.split('.')[0]}-{version}.json" if group else f"{kind.lower()}-{version}.json"


def strict(schema: Any) -> Any:
    """An OpenAPI schema of a CRD with unknown fields refused, as kubeconform's strict schemas refuse them."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        open_object = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if schema.get("type") == "object" and "properties" in schema and not open_object:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(value) for value in schema]
    return schema


@functools.cache
def schema_dir(root: str) -> Path:
    """Standalone schemas for the kinds the chart renders: each with the shared definitions embedded (kubeconform
    does not follow `_definitions.json`), plus the SparkApplication CRD's."""
    folder = Path(root)
    definitions = json.loads((SCHEMAS / "_definitions.json").read_text())
    shared = definitions.get("definitions") or definitions["$defs"]
    kinds = {(o["kind"], o["apiVersion"]) for values_file in CI_VALUES for o in render_ci(values_file)}
    for kind, api_version in kinds:
        name = kubeconform_file(kind, api_version)
        if kind == "SparkApplication":
            (folder / name).write_text(json.dumps(strict(crd_schema())))
            continue
        schema = json.loads(LOCAL_REF.sub('"#/definitions/', (SCHEMAS / name).read_text()))
        schema["definitions"] = json.loads(LOCAL_REF.sub('"#/definitions/', json.dumps(shared)))
        for key in ("$schema", "$id"):  # one self-contained document, read as kubeconform's default draft
            schema.pop(key, None)
        (folder / name).write_text(json.dumps(schema))
    return folder


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return schema_dir(str(tmp_path_factory.mktemp("kubeconform-schemas")))


def kubeconform(manifests: str, schemas: Path) -> dict[str, Any]:
    location = str(schemas / "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    result = subprocess.run(
        [str(tool(KUBECONFORM)), "-strict", "-summary", "-output", "json", "-schema-location", location, "-"],
        input=manifests, capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


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
