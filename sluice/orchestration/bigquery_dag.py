"""The BigQuery publish DAG: whenever a chosen mart (`settings.bigquery_marts`) publishes a day, that day's partition
of its BigQuery table is replaced by the lake's (`sluice.serving.bigquery`).

Scheduled on the chosen marts' Assets (any of them): a run gets the asset events since the previous run and publishes,
per lake bucket the publishing run read from and per day it built, exactly those marts; then it reads each partition's
row count back from BigQuery and fails (and alerts) unless it equals the lake's: the audit's last link. The day is the
source run's `ds` param, or else the first day of its data interval, as the marts DAG's own `DS` picks it.

Off while `SLUICE_BIGQUERY_PROJECT` is unset: the DAG still parses (so a deployment without BigQuery has no import
error) but has no schedule and says so in its description; a manual run's task skips with the same message. It is
never paused, so setting the project later is all it takes to switch it on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from airflow.sdk import DAG, AssetAny

from sluice.marts.project import Project
from sluice.orchestration import START_DATE, default_args
from sluice.orchestration.marts_dag import asset_of
from sluice.serving.bigquery import OFF, chosen_marts
from sluice.settings import Settings

DAG_ID = "sluice_bigquery_publish"
TASK_ID = "publish_to_bigquery"
ASSET_PREFIX = "sluice."  # asset names are sluice.<model> (marts_dag.asset_of)


def source_day(run: Any) -> date:
    """The day a marts run built: its `ds` param (a manual run) or the first day of its data interval."""
    conf = run.conf or {}
    if conf.get("ds"):
        return date.fromisoformat(conf["ds"])
    if run.data_interval_start is None:
        raise ValueError(f"run {run.run_id} of {run.dag_id} has neither a ds param nor a data interval")
    return run.data_interval_start.date()  # type: ignore[no-any-return]


def published_partitions(
    events: Iterable[Any], default_bucket: str, marts: Iterable[str]
) -> dict[tuple[str, date], set[str]]:
    """The triggering asset events as {(lake bucket, day): marts}; events of other marts are left out."""
    chosen = set(marts)
    partitions: dict[tuple[str, date], set[str]] = defaultdict(set)
    for event in events:
        mart = event.asset.name.removeprefix(ASSET_PREFIX)
        source = event.source_dag_run
        if mart not in chosen or source is None:  # an event posted by hand names no run, so no day
            continue
        bucket = (source.conf or {}).get("lake_bucket") or default_bucket
        partitions[(bucket, source_day(source))].add(mart)
    return dict(partitions)


def publish_published(**context: Any) -> list[dict[str, Any]]:
    """Publish the partitions of the triggering asset events; returns what was loaded, per partition."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from sluice.audit import warehouse_checks
    from sluice.objectstore import s3_client
    from sluice.serving.bigquery import publish
    from sluice.settings import load_settings

    settings = load_settings()
    if not settings.bigquery_project:
        raise AirflowSkipException(OFF)
    events = [event for events in context["triggering_asset_events"].values() for event in events]
    loaded, failed = [], []
    for (bucket, day), marts in sorted(
        published_partitions(events, settings.lake_bucket, settings.bigquery_marts).items()
    ):
        target = settings.model_copy(update={"lake_bucket": bucket})
        for item in publish(target, sorted(marts), day, context["run_id"]):
            print(f"{item.partition}: {item.rows} rows from s3://{bucket} (job {item.job_id})", flush=True)
            loaded.append({"partition": item.partition, "rows": item.rows, "job_id": item.job_id})
        # The audit's last link, read back independently of what the load jobs reported.
        for check in warehouse_checks(target, s3_client(target), day, sorted(marts)):
            print(f"audit {check.link} {check.subject} dt={day}: lake {check.expected}, BigQuery {check.found}")
            failed += [] if check.passed else [f"{check.subject} dt={day}: lake {check.expected}, {check.detail}"]
    if failed:
        raise AirflowFailException(f"BigQuery does not hold the lake's rows: {'; '.join(failed)}")
    return loaded


def bigquery_publish_dag(project: Project, settings: Settings) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    on = bool(settings.bigquery_project)  # an empty SLUICE_BIGQUERY_PROJECT is off too
    marts = chosen_marts(project, settings.bigquery_marts)  # an unknown name fails the parse, naming the valid ones
    with DAG(
        DAG_ID,
        description=(
            f"After each publish of {', '.join(m.name for m in marts)}: replace the day's partition in BigQuery"
            if on
            else OFF
        ),
        schedule=AssetAny(*(asset_of(model, settings) for model in marts)) if on else None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # Never paused: off, it has no schedule; switched on later, it must run without anyone unpausing it.
        is_paused_upon_creation=False,
        default_args=default_args(2, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "bigquery"],
        doc_md=__doc__,
    ) as dag:
        PythonOperator(task_id=TASK_ID, python_callable=publish_published)
    return dag
