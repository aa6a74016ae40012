"""The Superset refresh DAG: whenever a mart is published, its dataset's columns are refreshed and the cached results
of every chart on it are dropped, so an analyst never sees yesterday's numbers after today's run.

Scheduled on the marts' Assets (any of them): a run gets the asset events since the previous run and refreshes
exactly those marts, in the catalog schema the publishing run wrote (a run of the marts DAG may target another).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, AssetAny

from sluice.marts.project import Project
from sluice.orchestration import START_DATE, default_args
from sluice.orchestration.marts_dag import asset_of
from sluice.settings import Settings

DAG_ID = "sluice_superset_refresh"
ASSET_PREFIX = "sluice."  # asset names are sluice.<model> (marts_dag.asset_of)


def refresh_published(**context: Any) -> dict[str, list[str]]:
    """Refresh the marts of the triggering asset events, per schema; returns {schema: marts}."""
    from sluice.serving.superset_sync import refresh
    from sluice.settings import load_settings

    settings = load_settings()
    by_schema: dict[str, set[str]] = defaultdict(set)
    for events in context["triggering_asset_events"].values():
        for event in events:
            source = event.source_dag_run
            conf = (source.conf if source is not None else None) or {}
            by_schema[conf.get("marts_schema") or settings.marts_schema].add(
                event.asset.name.removeprefix(ASSET_PREFIX)
            )
    for schema, marts in sorted(by_schema.items()):
        refreshed = refresh(settings.model_copy(update={"marts_schema": schema}), sorted(marts))
        skipped = sorted(marts - set(refreshed))
        print(f"schema {schema}: refreshed {refreshed}; not in Superset (run `sluice superset sync`): {skipped}")
    return {schema: sorted(marts) for schema, marts in by_schema.items()}


def superset_refresh_dag(project: Project, settings: Settings) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    marts = [asset_of(model, settings) for model in project.marts]
    with DAG(
        DAG_ID,
        description="After each publish: refresh the mart's Superset dataset and drop its charts' cached results",
        schedule=AssetAny(*marts),  # any published mart triggers a run
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # nobody should have to switch freshness on
        default_args=default_args(2, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "superset"],
        doc_md=__doc__,
    ) as dag:
        PythonOperator(task_id="refresh_superset", python_callable=refresh_published)
    return dag
