"""One definition of a Spark job, run two ways: `local` starts it as a process on this machine's Spark; `k8s`
submits it as a SparkApplication to the kubeflow spark-operator. Both run the same module with the same arguments.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any

from sluice.settings import REPO_ROOT, Settings

GATE_OR_INPUT_EXIT = 1  # spark_jobs.build_model: the quality gate failed or raw hours are missing; nothing published
OUTPUT_LINES = 20  # the end of the job's output that goes into the error (and the alert)
# JVM stack frames and Spark's own log lines: in the task log, but not in the error an alert quotes.
NOISE = re.compile(
    r"^\s+at |^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO) |^SLF4J: |^WARNING: |^\S+Exception: No such file"
)


class DataProblem(RuntimeError):
    """The job refused its input or output (a failed gate): retrying cannot help until the data is fixed."""


class JobFailed(RuntimeError):
    """The job crashed; a retry may help."""


@dataclass(frozen=True)
class SparkJob:
    name: str  # a Kubernetes name: lowercase letters, digits and '-'
    module: str  # run as `python -m <module>` locally; its file is the application's main file on k8s
    arguments: tuple[str, ...]

    @classmethod
    def build_model(cls, model: str, ds: str) -> SparkJob:
        return cls(f"build-{model.replace('_', '-')}", "spark_jobs.build_model", (model, "--date", ds))

    def run_locally(self, env: dict[str, str] | None = None) -> None:
        """Run the job to its end, streaming its output to this task's log; `env` adds settings (SLUICE_*) to the
        job's environment."""
        argv = [sys.executable, "-m", self.module, *self.arguments]
        print(f"running: {' '.join(argv)} with {env or {}}", flush=True)
        tail: deque[str] = deque(maxlen=OUTPUT_LINES)
        with subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                print(line, end="", flush=True)
                if not NOISE.match(line):
                    tail.append(line.rstrip())
        output = "\n".join(tail)
        if process.returncode == GATE_OR_INPUT_EXIT:
            raise DataProblem(f"{self.name} refused its data (exit 1), nothing was published:\n{output}")
        if process.returncode != 0:
            raise JobFailed(f"{self.name} failed with exit code {process.returncode}:\n{output}")

    def spark_application(self, settings: Settings, env: dict[str, str] | None = None) -> dict[str, Any]:
        """The SparkApplication (sparkoperator.k8s.io/v1beta2) that runs this job on Kubernetes.

        Settings reach the driver and executors as SLUICE_* variables from a ConfigMap and a Secret that the
        Helm chart creates, plus `env`; the image holds this repository installed, like the local environment.
        """
        env_from = [
            {"configMapRef": {"name": settings.k8s_settings_config_map}},
            {"secretRef": {"name": settings.k8s_settings_secret}},
        ]
        labels = {"app.kubernetes.io/part-of": "sluice", "sluice/job": self.name}
        return {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": self.name, "namespace": settings.k8s_namespace, "labels": labels},
            "spec": {
                "type": "Python",
                "pythonVersion": "3",
                "mode": "cluster",
                "image": settings.spark_image,
                "imagePullPolicy": "IfNotPresent",
                "mainApplicationFile": f"local:///opt/sluice/{self.module.replace('.', '/')}.py",
                "arguments": list(self.arguments),
                "sparkVersion": settings.spark_version,
                "restartPolicy": {"type": "Never"},  # Airflow owns retries; the operator must not retry too
                "timeToLiveSeconds": 3600,
                "sparkConf": {"spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions)},
                "driver": {
                    "cores": 1,
                    "memory": settings.spark_driver_memory,
                    "serviceAccount": settings.k8s_spark_service_account,
                    "labels": labels,
                    "envFrom": env_from,
                    "envVars": dict(env or {}),
                },
                "executor": {
                    "instances": settings.k8s_spark_executors,
                    "cores": settings.k8s_spark_executor_cores,
                    "memory": settings.k8s_spark_executor_memory,
                    "labels": labels,
                    "envFrom": env_from,
                    "envVars": dict(env or {}),
                },
            },
        }
