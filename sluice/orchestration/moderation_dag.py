"""The nightly moderation model DAG, downstream of the marts: whenever the training mart is published it trains
candidates on it, registers them in MLflow, promotes the best only if it beats the champion, scores the day's new
listings with the champion into the predictions mart, and posts one Slack summary.

    training_set -> train_candidates -> register_and_promote -> score_new_listings -> notify_summary

The steps are commands of the ML environment (`ml/`, `sluice_ml.nightly`): locally a process of `ml/.venv` (CUDA
when the machine has it, else CPU), in `k8s` a pod of the ML image; training's pod asks for a GPU on the GPU node
pool. `MLStep.operator` is the one place that picks the way by profile, as `SparkJob.operator` does for Spark.
A day's predictions are re-scored by clearing its `score_new_listings` task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Asset, Param

from sluice import lake
from sluice.marts.project import Project
from sluice.orchestration import START_DATE, alerts, default_args
from sluice.orchestration.marts_dag import asset_of
from sluice.settings import Settings

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

DAG_ID = "sluice_moderation_model"
TASKS = ("training_set", "train_candidates", "register_and_promote", "score_new_listings", "notify_summary")
TRAINING_SET_TASK, TRAIN_TASK, REGISTER_TASK, SCORE_TASK, SUMMARY_TASK = TASKS
# Later tasks work on the day and lake the first task resolved (from the triggering asset event or the params).
DS = "{{ ti.xcom_pull(task_ids='training_set')['ds'] }}"
STEP_ENV = {"SLUICE_LAKE_BUCKET": "{{ ti.xcom_pull(task_ids='training_set')['lake_bucket'] }}"}


def predictions_asset(settings: Settings) -> Asset:
    location = lake.table_location("marts", lake.PREDICTIONS)
    return Asset(name=f"sluice.{lake.PREDICTIONS}", uri=f"s3://{settings.lake_bucket}/{location}")


@dataclass(frozen=True)
class MLStep:
    """One `sluice_ml.nightly` step; `gpu` asks Kubernetes for a GPU on the GPU pool."""

    step: str
    gpu: bool = False

    @property
    def name(self) -> str:
        return f"ml-{self.step}"

    def arguments(self, ds: str) -> list[str]:
        return ["-m", "sluice_ml.nightly", self.step, "--date", ds]

    def operator(self, settings: Settings, **task: Any) -> BaseOperator:
        if settings.profile == "k8s":
            from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

            return KubernetesPodOperator(**self.pod_arguments(settings), **task)
        from airflow.providers.standard.operators.python import PythonOperator

        return PythonOperator(
            python_callable=run_ml_step, op_kwargs={"arguments": self.arguments(DS), "env": STEP_ENV}, **task
        )

    def pod_arguments(self, settings: Settings) -> dict[str, Any]:
        """KubernetesPodOperator's arguments: the ML image, settings from the chart's ConfigMap and Secret, and for
        training one GPU on the GPU node pool (its node selector and its taint's toleration)."""
        from kubernetes.client import models as k8s

        gpu: dict[str, Any] = {}
        if self.gpu:
            gpu = {
                "container_resources": k8s.V1ResourceRequirements(
                    requests={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                    limits={"memory": "16Gi", "nvidia.com/gpu": "1"},
                ),
                "node_selector": dict(settings.k8s_gpu_node_selector),
                "tolerations": [
                    k8s.V1Toleration(key=settings.k8s_gpu_toleration_key, operator="Exists", effect="NoSchedule")
                ],
            }
        return {
            "name": self.name,
            "namespace": settings.k8s_namespace,
            "image": settings.ml_image,
            "cmds": ["python"],
            "arguments": self.arguments(DS),
            "env_vars": STEP_ENV,
            "env_from": [
                k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=settings.k8s_settings_config_map)),
                k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.k8s_settings_secret)),
            ],
            "labels": {"app.kubernetes.io/part-of": "sluice", "sluice/job": self.name},
            "get_logs": True,
            "on_finish_action": "delete_succeeded_pod",
            **gpu,
        }


def run_ml_step(arguments: list[str], env: dict[str, str]) -> None:
    """Local mode's task: the step as a process of the ML environment; refused data fails without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from sluice.orchestration.jobs import DataProblem, run_process
    from sluice.stack.mlflow import ml_process_env, ml_python

    try:
        run_process(arguments[2], [ml_python(), *arguments], {**ml_process_env(), **env})
    except DataProblem as problem:
        raise AirflowFailException(str(problem)) from None


def resolve_training_set(params: dict[str, Any], **context: Any) -> dict[str, str]:
    """The day and lake to work on (a manual run's params, else the newest marts run that published the training
    mart), once its training set has labelled listings on both sides of the split. The first night of a new lake
    has nothing older than the day to train on: the run is skipped, saying so, rather than failed."""
    from airflow.sdk.exceptions import AirflowSkipException

    from sluice.settings import load_settings

    days, bucket = [params["ds"]] if params.get("ds") else [], params.get("lake_bucket")
    for events in context.get("triggering_asset_events", {}).values():
        for event in events:
            source = event.source_dag_run
            if source is not None:
                conf = source.conf or {}
                bucket = bucket or conf.get("lake_bucket")
                days.append(conf.get("ds") or source.data_interval_start.date().isoformat())
    if not days:
        raise ValueError("no day to train on: trigger with params {'ds': 'YYYY-MM-DD'} or let the training mart do it")
    target = {"ds": max(days), "lake_bucket": bucket or load_settings().lake_bucket}
    counts = labelled_counts(load_settings(lake_bucket=target["lake_bucket"]), date.fromisoformat(target["ds"]))
    print(f"training set for dt={target['ds']} in s3://{target['lake_bucket']}: labelled listings {counts}")
    if not counts.get("train") or not counts.get("holdout"):
        raise AirflowSkipException(
            f"the training set of dt={target['ds']} has labelled listings {counts}: a model needs labelled listings "
            "created before that day (to train) and on it (to evaluate); the nightly run starts once it has both"
        )
    return target


def labelled_counts(settings: Settings, ds: date) -> dict[str, int]:
    """Labelled listings per split in the training mart's partition, read straight from the lake."""
    import io

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sluice.objectstore import list_objects, s3_client

    s3 = s3_client(settings)
    prefix = lake.partition_prefix("marts", lake.TRAINING_SET, ds)
    counts: dict[str, int] = {}
    for item in list_objects(s3, settings.lake_bucket, prefix):
        if item["Key"].endswith(".parquet"):
            body = s3.get_object(Bucket=settings.lake_bucket, Key=item["Key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=["label", "split"])
            labelled = table.filter(pc.is_valid(table["label"]))["split"].to_pylist()
            for split in labelled:
                counts[split] = counts.get(split, 0) + 1
    return counts


def notify_summary(**context: Any) -> dict[str, Any]:
    """One Slack message: candidates' macro-F1, champion vs candidate, promoted or not and why, rows scored."""
    from sluice.objectstore import s3_client
    from sluice.settings import load_settings

    target = context["ti"].xcom_pull(task_ids=TRAINING_SET_TASK)
    settings = load_settings(lake_bucket=target["lake_bucket"])
    ds = date.fromisoformat(target["ds"])
    s3 = s3_client(settings)

    def read(name: str) -> dict[str, Any]:  # what the ML steps left in the night's folder
        body = s3.get_object(Bucket=settings.lake_bucket, Key=lake.nightly_prefix(ds) + name)["Body"].read()
        return dict(json.loads(body))

    decision, scored = read("decision.json"), read("scored.json")
    run = context["dag_run"]
    duration = (datetime.now(UTC) - run.start_date).total_seconds()
    alerts.send(model_summary_message(decision, scored, run.run_id, duration, settings.airflow_url))
    return decision


def model_summary_message(
    decision: dict[str, Any], scored: dict[str, Any], run_id: str, duration_s: float, ui_url: str
) -> dict[str, Any]:
    candidates = "\n".join(
        f"• {name}: macro-F1 {c['macro_f1']:.3f} ("
        + ", ".join(f"{label} {f1:.2f}" for label, f1 in c["f1"].items())
        + ")"
        for name, c in decision["candidates"].items()
    )
    verdict = (
        f"promoted version {decision['version']} ({decision['best']}) to champion"
        if decision["promoted"]
        else f"kept champion version {decision['champion']}; candidate version {decision['version']} is challenger"
    )
    text = (
        f":robot_face: {DAG_ID} for {decision['ds']}: {verdict}. {decision['reason']}.\n"
        f"Candidates on the held-out day ({decision['data']['holdout_rows']} labelled listings, "
        f"{decision['device']}, transformer profile {decision['profile']}):\n{candidates}\n"
        f"Scored {scored['rows']} new listings with {decision['model']} v{decision['champion']} "
        f"in {duration_s:.0f}s. <{ui_url}/dags/{DAG_ID}/runs/{run_id}|run {run_id}>"
    )
    return {"text": text}


def moderation_dag(project: Project, settings: Settings) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    training_mart = asset_of(project.models[lake.TRAINING_SET], settings)
    with DAG(
        DAG_ID,
        description="Nightly: train, register, promote if better, score the day's new listings",
        schedule=training_mart,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # nobody should have to babysit the schedule
        default_args=default_args(1, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "ml"],
        params={
            "ds": Param(None, type=["null", "string"], description="training set's date, YYYY-MM-DD"),
            "lake_bucket": Param(None, type=["null", "string"], description="bucket of the lake (default: settings)"),
        },
        doc_md=__doc__,
    ) as dag:
        training_set = PythonOperator(task_id=TRAINING_SET_TASK, python_callable=resolve_training_set)
        train = MLStep("train", gpu=True).operator(settings, task_id=TRAIN_TASK)
        register = MLStep("register").operator(settings, task_id=REGISTER_TASK)
        score = MLStep("score").operator(settings, task_id=SCORE_TASK, outlets=[predictions_asset(settings)])
        summary = PythonOperator(task_id=SUMMARY_TASK, python_callable=notify_summary)
        training_set >> train >> register >> score >> summary
    return dag
