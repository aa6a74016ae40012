"""One definition of a Spark job, run two ways: `local` runs it in the stack's warm job runner (a forked child with
its imports done, `sluice.stack.job_runner`), a client of the stack's warm Spark Connect server; `k8s` submits it as a
SparkApplication to the kubeflow spark-operator. Both run the same module with the same arguments.
`SparkJob.operator` is the one place that picks the way by profile, as astronomer-cosmos picks an operator class per
execution mode.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.settings import REPO_ROOT, Settings

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

GATE_OR_INPUT_EXIT = 1  # spark_jobs.build_model: the quality gate failed or raw hours are missing; nothing published
OUTPUT_LINES = 20  # the end of the job's output that goes into the error (and the alert)
# JVM stack frames and Spark's own log lines: in the task log, but not in the error an alert quotes.
# The Spark Connect client logs each server error as one JSON line, before the exception says it again.
NOISE = re.compile(
    r"^\s+at |^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO) |^SLF4J: |^WARNING: |^\S+Exception: No such file"
    r'|^\{"ts": '
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
    streaming: bool = False  # runs until stopped: the operator restarts it (its checkpoint makes that safe)

    @classmethod
    def build_model(cls, model: str, ds: str) -> SparkJob:
        return cls(f"build-{model.replace('_', '-')}", "spark_jobs.build_model", (model, "--date", ds))

    @classmethod
    def speed_track(cls) -> SparkJob:
        return cls("speed-track", "spark_jobs.speed_track", (), streaming=True)

    def operator(self, settings: Settings, env: dict[str, str], **task: Any) -> BaseOperator:
        """The Airflow task that runs this job in the profile's execution mode; `env` adds settings (SLUICE_*,
        may be templated), `task` the operator's own arguments (task_id, outlets...)."""
        if settings.profile == "k8s":
            import yaml
            from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

            return SparkKubernetesOperator(  # type: ignore[no-any-return]
                application_file=yaml.safe_dump(self.spark_application(settings, env), sort_keys=False),
                namespace=settings.k8s_namespace,
                get_logs=True,
                **task,
            )
        from airflow.providers.standard.operators.python import PythonOperator

        job = {"name": self.name, "module": self.module, "arguments": list(self.arguments)}  # rendered by Airflow
        return PythonOperator(python_callable=run_job, op_kwargs={"job": job, "env": env}, **task)

    def run_locally(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        """Run the job to its end in the stack's job runner, streaming its output to this task's log; `env` adds
        settings (SLUICE_*) to the job's environment."""
        from sluice.stack import job_runner

        print(f"running in the job runner: python -m {self.module} {' '.join(self.arguments)} with {env or {}}")
        output = _Output()
        environment = {**os.environ, **(env or {})}
        code = job_runner.run(job_runner.socket_path(settings), self.module, list(self.arguments), environment, output)
        output.verdict(self.name, code)

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
        # Each account has its own IAM role (terraform/envs/prod/iam.tf), limited to the zones the job writes.
        account = settings.k8s_speed_track_service_account if self.streaming else settings.k8s_spark_service_account
        return {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": self.name, "namespace": settings.k8s_namespace, "labels": labels},
            "spec": {
                "type": "Python",
                "pythonVersion": "3",
                "mode": "cluster",
                "image": settings.spark_image,
                "imagePullPolicy": "Always",  # a manifest check per pod start: a re-pushed tag cannot linger
                "mainApplicationFile": f"local:///opt/sluice/{self.module.replace('.', '/')}.py",
                "arguments": list(self.arguments),
                "sparkVersion": settings.spark_version,
                **self._lifecycle(),
                "sparkConf": {"spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions)},
                "driver": {
                    "cores": 1,
                    "memory": settings.speed_driver_memory if self.streaming else settings.spark_driver_memory,
                    "serviceAccount": account,
                    "labels": labels,
                    "envFrom": env_from,
                    "envVars": dict(env or {}),
                },
                "executor": {
                    "instances": settings.k8s_spark_executors,
                    "cores": settings.k8s_spark_executor_cores,
                    "memory": settings.k8s_spark_executor_memory,
                    "serviceAccount": account,
                    "labels": labels,
                    "envFrom": env_from,
                    "envVars": dict(env or {}),
                },
            },
        }

    def _lifecycle(self) -> dict[str, Any]:
        if self.streaming:  # no Airflow task owns it: the operator restarts it whenever it ends
            return {"restartPolicy": {"type": "Always", "onFailureRetryInterval": 10,
                                      "onSubmissionFailureRetryInterval": 30}}  # fmt: skip
        # Airflow owns retries; the operator must not retry too. A finished application goes after an hour.
        return {"restartPolicy": {"type": "Never"}, "timeToLiveSeconds": 3600}


class _Output:
    """Streams a job's output to the task's log and keeps its end for the error an alert quotes."""

    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=OUTPUT_LINES)

    def __call__(self, line: str) -> None:
        print(line, end="", flush=True)
        if not NOISE.match(line):
            self.tail.append(line.rstrip())

    def verdict(self, name: str, code: int) -> None:
        """Exit code 1 is the job refusing its data (DataProblem), anything else but 0 a crash."""
        output = "\n".join(self.tail)
        if code == GATE_OR_INPUT_EXIT:
            raise DataProblem(f"{name} refused its data (exit 1), nothing was published:\n{output}")
        if code != 0:
            raise JobFailed(f"{name} failed with exit code {code}:\n{output}")


def run_process(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run a job's process (another Python than Airflow's: the model's) to its end, streaming its output to the
    task's log."""
    print(f"running: {' '.join(argv)} with {env or {}}", flush=True)
    output = _Output()
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
            output(line)
    output.verdict(name, process.returncode)


def run_job(job: dict[str, Any], env: dict[str, str]) -> None:
    """Local mode's task: run the job on this machine; a data problem fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from sluice.settings import load_settings

    try:
        SparkJob(job["name"], job["module"], tuple(job["arguments"])).run_locally(load_settings(), env)
    except DataProblem as problem:  # retrying will not fix the data: fail now, alert, wait for a Clear
        raise AirflowFailException(str(problem)) from None
