from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.settings import Settings
from tests.helm.conftest import CHART, HelmFailed, find, one, render_chart, render_ci

SHOW = ["templates/sink.yaml"]


def sink(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return one(render_chart(values, show_only=SHOW), "StatefulSet", "sluice-sink")


def test_sink_is_a_statefulset_behind_a_headless_service() -> None:
    objects = render_chart(show_only=SHOW)
    statefulset = one(objects, "StatefulSet", "sluice-sink")
    service = one(objects, "Service", "sluice-sink")
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == "sluice-sink"
    assert statefulset["spec"]["template"]["spec"]["serviceAccountName"] == "sluice-sink"


def test_each_pod_runs_ingest_with_its_pod_index_as_worker() -> None:
    container = sink()["spec"]["template"]["spec"]["containers"][0]
    assert [*container["command"], *container["args"]] == ["sluice", "ingest", "--worker", "$(SLUICE_SINK_WORKER)"]
    worker = next(e for e in container["env"] if e["name"] == "SLUICE_SINK_WORKER")
    assert worker["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_settings_come_from_the_config_map_and_secret_sluice_reads() -> None:
    container = sink()["spec"]["template"]["spec"]["containers"][0]
    names = [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]]
    defaults = Settings.model_fields
    assert names == [defaults["k8s_settings_config_map"].default, defaults["k8s_settings_secret"].default]


def test_sluice_home_is_a_writable_volume_and_the_root_filesystem_read_only() -> None:
    pod = sink()["spec"]["template"]["spec"]
    container = pod["containers"][0]
    home = next(e["value"] for e in container["env"] if e["name"] == "SLUICE_HOME")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[home]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_liveness_reads_the_worker_status_file_with_the_staleness_limit() -> None:
    container = sink({"sink": {"livenessStaleSeconds": 420}})["spec"]["template"]["spec"]["containers"][0]
    script = container["livenessProbe"]["exec"]["command"][-1]
    assert '"/ingest/worker-"' in script
    assert 'os.environ["SLUICE_SINK_WORKER"]' in script
    assert "< 420" in script
    assert container["startupProbe"]["exec"]["command"] == container["livenessProbe"]["exec"]["command"]


def test_liveness_script_passes_on_a_fresh_file_and_fails_on_a_stale_or_missing_one(tmp_path: Path) -> None:
    command = sink({"sink": {"livenessStaleSeconds": 60}})["spec"]["template"]["spec"]["containers"][0]
    script = command["livenessProbe"]["exec"]["command"][-1]
    env = {**os.environ, "SLUICE_HOME": str(tmp_path), "SLUICE_SINK_WORKER": "2"}

    def probe() -> int:
        return subprocess.run([sys.executable, "-c", script], env=env, check=False).returncode

    assert probe() == 1  # not written yet
    status = tmp_path / "ingest" / "worker-2.json"
    status.parent.mkdir()
    status.write_text("{}")
    assert probe() == 0
    old = time.time() - 61
    os.utime(status, (old, old))
    assert probe() == 1


def test_replicas_default_one_and_up_to_the_partitions() -> None:
    assert sink()["spec"]["replicas"] == 1
    assert sink({"sink": {"replicas": 6, "topicPartitions": 6}})["spec"]["replicas"] == 6


def test_more_replicas_than_partitions_fails_naming_both_and_the_fix() -> None:
    with pytest.raises(HelmFailed) as refused:
        render_chart({"sink": {"replicas": 7, "topicPartitions": 6}})
    message = str(refused.value)
    assert "sink.replicas (7)" in message
    assert "sink.topicPartitions (6)" in message
    assert "at most 6" in message


def test_default_partitions_are_sluices() -> None:

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["sink"]["topicPartitions"] == Settings.model_fields["topic_partitions"].default


def test_grace_period_lets_the_sink_flush_on_sigterm() -> None:
    assert sink()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120
    spec = sink({"sink": {"terminationGracePeriodSeconds": 300}})["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 300


def test_one_sink_pod_at_a_time_may_be_disrupted() -> None:
    objects = render_chart(show_only=SHOW)
    budget = one(objects, "PodDisruptionBudget", "sluice-sink")
    assert budget["spec"]["maxUnavailable"] == 1
    pod_labels = one(objects, "StatefulSet", "sluice-sink")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_production_runs_three_workers_on_six_partitions() -> None:
    statefulset = one(render_ci("production-values.yaml"), "StatefulSet", "sluice-sink")
    assert statefulset["spec"]["replicas"] == 3
    assert find(render_ci("production-values.yaml"), "PodDisruptionBudget")
