"""The marts DAG, generated from the marts project's dependency graph (the same graph `sluice marts graph` draws).

One task per model, in dependency order, each building one date: the run's data interval picks it. A model's task
stages the partition, runs its quality gate and publishes only if the gate passed, so a failed gate fails the task
and blocks everything downstream of it. Models that read the raw zone wait for its hours to be complete; each
published model updates an Airflow Asset, so downstream DAGs are data-aware. One Slack summary per successful run;
failures alert per task (`sluice.orchestration.alerts`).

Execution mode follows `settings.profile` and is decided by the job itself (`SparkJob.operator`): `local` runs each
job as a client of the stack's warm Spark Connect server, `k8s` submits the same job as a SparkApplication.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, BaseOperator, CronDataIntervalTimetable, Param
from airflow.sdk.exceptions import AirflowFailException

from sluice import lake
from sluice.marts.project import Model, Project
from sluice.orchestration import DS, START_DATE, alerts, default_args
from sluice.orchestration.completeness import RawHoursCompleteSensor
from sluice.orchestration.jobs import SparkJob
from sluice.settings import Settings

DAG_ID = "sluice_marts"
# A run may build another lake than the deployment's (a test or staging bucket): DAG params, defaults from settings.
TARGET = {"SLUICE_LAKE_BUCKET": "{{ params.lake_bucket }}", "SLUICE_MARTS_SCHEMA": "{{ params.marts_schema }}"}
WAIT_TASK = "raw_hours_complete"
AUDIT_TASK = "audit"
SUMMARY_TASK = "notify_success"


def asset_of(model: Model, settings: Settings) -> Asset:
    location = lake.table_location(model.layer, model.name)
    return Asset(name=f"sluice.{model.name}", uri=f"s3://{settings.lake_bucket}/{location}")


def notify_success(models: list[str], ds: str, target: dict[str, str], **context: Any) -> None:
    """One Slack summary for the run, from the build records the model tasks left in the lake."""
    from datetime import date

    from sluice.marts.build import read_build_record
    from sluice.objectstore import s3_client
    from sluice.settings import load_settings

    settings = load_settings(lake_bucket=target["SLUICE_LAKE_BUCKET"])
    s3 = s3_client(settings)
    records = {name: read_build_record(s3, settings, name, date.fromisoformat(ds)) for name in models}
    missing = sorted(name for name, record in records.items() if record is None)
    if missing:  # every model task succeeded, so each must have published: never report a false green
        raise AirflowFailException(f"no build record in the lake for dt={ds} of: {', '.join(missing)}")
    run = context["dag_run"]
    duration = (datetime.now(UTC) - run.start_date).total_seconds()
    results = [record for record in records.values() if record is not None]
    alerts.send(alerts.success_message(DAG_ID, run.run_id, ds, duration, results, settings.airflow_url))


def audit_day(ds: str, target: dict[str, str], ingest_group: str) -> None:
    """The day's reconciliation from Kafka to the marts (`sluice audit`); a failure names the first broken link."""
    from datetime import date

    from sluice.audit import AuditFailed, run
    from sluice.marts.project import load_project
    from sluice.settings import load_settings

    settings = load_settings(lake_bucket=target["SLUICE_LAKE_BUCKET"], ingest_group=ingest_group)
    try:
        # BigQuery's copy follows in its own DAG, which checks it once loaded.
        print(run(settings, load_project(), date.fromisoformat(ds), warehouse=False).table())
    except AuditFailed as failed:
        print(failed.report.table())
        raise AirflowFailException(str(failed)) from None  # the data, not the run, is wrong: a retry cannot fix it


def model_task(model: Model, settings: Settings) -> BaseOperator:
    return SparkJob.build_model(model.name, DS).operator(
        settings,
        TARGET,
        task_id=model.name,
        outlets=[asset_of(model, settings)],
        depends_on_past=model.reads_own_past,  # a daily snapshot needs yesterday's partition
        doc_md=model.spec.description,
    )


def marts_dag(project: Project, settings: Settings) -> DAG:
    with DAG(
        DAG_ID,
        description=f"{len(project.models)} marts models in dependency order, each gated by its quality checks",
        # Each run covers one whole day and starts once it is over (Airflow 3's plain cron schedule would give a
        # run for midnight an empty interval); the sensor then waits for the sink to mark the day's hours.
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=3,
        default_args=default_args(2, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "marts"],
        params={
            "ds": Param(None, type=["null", "string"], description="date to build, YYYY-MM-DD (default: the interval)"),
            "lake_bucket": Param(settings.lake_bucket, type="string", description="bucket of the lake to build"),
            "marts_schema": Param(settings.marts_schema, type="string", description="catalog schema of the tables"),
            "ingest_group": Param(settings.ingest_group, type="string", description="the sink's group (the audit)"),
            "raw_wait_hours": Param(settings.raw_wait_hours, type="number", description="wait for the raw zone, hours"),
        },
        doc_md=__doc__,
    ) as dag:
        topics = sorted({source.topic for source in project.sources.values()})
        wait = RawHoursCompleteSensor(
            task_id=WAIT_TASK,
            topics=topics,
            day=DS,
            bucket=TARGET["SLUICE_LAKE_BUCKET"],
            wait_hours="{{ params.raw_wait_hours }}",
            retries=0,  # its own deadline is the retry loop
        )
        tasks: dict[str, BaseOperator] = {}
        for name, model in project.models.items():  # dependency order: upstream tasks exist already
            tasks[name] = model_task(model, settings)
            upstream = [tasks[u] for u in sorted(model.upstream & project.models.keys())]
            if model.upstream & project.sources.keys():
                upstream.append(wait)
            for task in upstream:
                task >> tasks[name]
        audit, summary = _audit_and_summary_tasks(list(project.models))
        for task in tasks.values():
            if not task.downstream_list:  # a failure anywhere reaches the audit and summary through the leaves
                task >> audit
        audit >> summary
    return dag


def _audit_and_summary_tasks(models: list[str]) -> tuple[BaseOperator, BaseOperator]:
    from airflow.providers.standard.operators.python import PythonOperator

    audit_kwargs = {"ds": DS, "target": TARGET, "ingest_group": "{{ params.ingest_group }}"}
    summary_kwargs = {"models": models, "ds": DS, "target": TARGET}
    return (
        PythonOperator(task_id=AUDIT_TASK, python_callable=audit_day, op_kwargs=audit_kwargs),
        PythonOperator(task_id=SUMMARY_TASK, python_callable=notify_success, op_kwargs=summary_kwargs),
    )
