"""Render Sluice's chart with build/bin/helm, as Airflow's chart tests do: `render_chart(values, show_only)`.

Every render passes `--kube-version 1.34.0`: helm built with `go install` assumes Kubernetes 1.20, older than the
chart's kubeVersion. Expectations come from the tests themselves or from Sluice's settings, never from the chart.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sluice.settings import REPO_ROOT

CHART = REPO_ROOT / "helm" / "sluice"
CI_VALUES = sorted(path.name for path in (CHART / "ci").glob("*-values.yaml"))
HELM = REPO_ROOT / "build" / "bin" / "helm"
KUBECONFORM = REPO_ROOT / "build" / "bin" / "kubeconform"
KUBE_VERSION = "1.34.0"
NAMESPACE = "sluice"
INSTALL_HINT = "scripts/install-iac-tools (helm v3.22.0 and kubeconform v0.8.0 into build/bin, with go install)"
# The chart's required settings, as the tests give them.
REQUIRED_SETTINGS = {
    "kafka_bootstrap": "b-1.kafka.test:9098",
    "s3_endpoint": "https://s3.eu-west-1.amazonaws.com",
    "lake_bucket": "test-lake",
}
K8S_SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
CRD = REPO_ROOT.parent / "shared" / "schemas" / "spark-operator" / "sparkoperator.k8s.io_sparkapplications.yaml"
# "/api/_definitions.json#/$defs/X" (the schemas) and "#/$defs/X" (the definitions) -> "#/definitions/X"
LOCAL_REF = re.compile(r'"[^"#]*(?:_definitions\.json)?#/(?:\$defs|definitions)/')
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


class HelmFailed(Exception):
    """helm template refused the values (schema or a template's `fail`); the message is helm's stderr."""


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO_ROOT)} is missing; install it with: {INSTALL_HINT}", pytrace=False)
    return path


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool(HELM)), *args], capture_output=True, text=True, check=False, cwd=REPO_ROOT)


def render_chart(
    values: dict[str, Any] | None = None,
    show_only: list[str] | None = None,
    values_file: str | None = None,
) -> list[dict[str, Any]]:
    """The chart's objects for `values` (merged over `values_file`, a file name in helm/sluice/ci/, if given; else
    over the required settings). Raises HelmFailed with helm's message when helm refuses."""
    args = ["template", "sluice", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values_file:
        args += ["-f", str(CHART / "ci" / values_file)]
    elif values is None or "settings" not in values:
        values = {"settings": REQUIRED_SETTINGS, **(values or {})}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values or {}, file)
        file.flush()
        args += ["-f", file.name]
        for template in show_only or []:
            args += ["--show-only", template]
        result = helm(*args)
    if result.returncode != 0:
        raise HelmFailed(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def _render_ci(values_file: str) -> str:
    return json.dumps(render_chart(values_file=values_file))


def render_ci(values_file: str) -> list[dict[str, Any]]:
    """A ci values file's objects, rendered once per test session (a fresh copy each call)."""
    return json.loads(_render_ci(values_file))  # type: ignore[no-any-return]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every workload, and of the pod templates the chart ships in ConfigMaps."""
    specs = []
    for o in objects:
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            specs.append((where, o["spec"]["template"]["spec"]))
        elif o["kind"] == "Pod":
            specs.append((where, o["spec"]))
        elif o["kind"] == "ConfigMap":
            for key, text in (o.get("data") or {}).items():
                if key.endswith(".yaml"):
                    pod = yaml.safe_load(text)
                    if isinstance(pod, dict) and pod.get("kind") == "Pod":
                        specs.append((f"{where}[{key}]", pod["spec"]))
    return specs


# --- kubeconform ----------------------------------------------------------------------------------------------------


@functools.cache
def crd_schema() -> dict[str, Any]:
    """The SparkApplication's OpenAPI schema, from the spark-operator's CRD."""
    assert CRD.exists(), f"{CRD} is missing (the spark-operator's CRD, kept in ../shared/schemas)"
    crd = yaml.safe_load(CRD.read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


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


def write_schemas(folder: Path, objects: list[dict[str, Any]]) -> Path:
    """Standalone schemas for the kinds of `objects`: each with the shared definitions embedded (kubeconform does
    not follow `_definitions.json`), and the SparkApplication CRD's."""
    source = K8S_SCHEMAS / f"v{KUBE_VERSION}-local-strict"
    definitions = json.loads((source / "_definitions.json").read_text())
    shared = json.loads(
        LOCAL_REF.sub('"#/definitions/', json.dumps(definitions.get("definitions") or definitions["$defs"]))
    )
    for kind, api_version in {(o["kind"], o["apiVersion"]) for o in objects}:
        name = kubeconform_file(kind, api_version)
        if kind == "SparkApplication":
            (folder / name).write_text(json.dumps(strict(crd_schema())))
            continue
        schema = json.loads(LOCAL_REF.sub('"#/definitions/', (source / name).read_text()))
        schema["definitions"] = shared
        for key in ("$schema", "$id"):  # one self-contained document, read as kubeconform's default draft
            schema.pop(key, None)
        (folder / name).write_text(json.dumps(schema))
    return folder


def kubeconform(manifests: str, schemas: Path) -> dict[str, Any]:
    """kubeconform's JSON report in strict mode, with its exit code as `returncode`."""
    location = str(schemas / "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    result = subprocess.run(
        [str(tool(KUBECONFORM)), "-strict", "-summary", "-output", "json", "-schema-location", location, "-"],
        input=manifests, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report
