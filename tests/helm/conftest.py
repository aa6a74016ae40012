"""Render Sluice's chart with build/bin/helm, as Airflow's chart tests do: `render_chart(values, show_only)`.

Every render passes `--kube-version 1.34.0`: helm built with `go install` assumes Kubernetes 1.20, older than the
chart's kubeVersion. Expectations come from the tests themselves or from Sluice's settings, never from the chart.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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
