"""The maintenance DAG: every day, compact the raw zone's small files and delete what is past retention.

- `compact_<topic>`: each marked hour of the day `raw_compact_after_days` before the run's date becomes one object,
  its manifest still naming every replaced object and offset range (`ingestion.compaction`). A missed day is caught
  up with a backfill; a re-run of a compacted day changes nothing.
- `expire_raw`, `expire_quarantine`: date folders older than `raw_retention_days` / `quarantine_retention_days`.

Like the marts DAG, a manual run names its date in the `ds` param and may name another lake bucket.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from sluice import lake
from sluice.orchestration import DS, START_DATE, default_args
from sluice.settings import Settings

DAG_ID = "sluice_maintenance"
BUCKET = "{{ params.lake_bucket }}"


def compact_topic(topic: str, ds: str, bucket: str) -> dict[str, Any]:
    """Compact the topic's hours of the day `raw_compact_after_days` before `ds`; the figures become the XCom."""
    from dataclasses import asdict

    from ingestion.compaction import compact_day
    from sluice.objectstore import s3_client
    from sluice.settings import load_settings

    settings = load_settings(lake_bucket=bucket)
    day = date.fromisoformat(ds) - timedelta(days=settings.raw_compact_after_days)
    result = compact_day(s3_client(settings), bucket, topic, day)
    print(f"{topic} dt={day}: {result}")
    return {"day": day.isoformat(), **asdict(result)}


def expire_prefix(prefix: str, keep_days_setting: str, ds: str, bucket: str) -> list[str]:
    """Delete `prefix`'s date folders older than the setting's number of days before `ds`; returns them."""
    from sluice.objectstore import s3_client
    from sluice.retention import expire
    from sluice.settings import load_settings

    settings = load_settings(lake_bucket=bucket)
    before = date.fromisoformat(ds) - timedelta(days=getattr(settings, keep_days_setting))
    expired = expire(s3_client(settings), bucket, prefix, before)
    print(f"deleted {len(expired)} date folders under {prefix} dated before {before}: {expired}")
    return expired


def maintenance_dag(settings: Settings, topics: list[str]) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    with DAG(
        DAG_ID,
        description="Raw-zone compaction, and retention of raw days and quarantined rows",
        # 03:00, after the night's marts runs have read yesterday; the interval's first day is the run's date.
        schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(2, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "maintenance"],
        params={
            "ds": Param(None, type=["null", "string"], description="the run's date, YYYY-MM-DD (default: interval)"),
            "lake_bucket": Param(settings.lake_bucket, type="string", description="bucket of the lake to maintain"),
        },
        doc_md=__doc__,
    ) as dag:
        for topic in topics:
            PythonOperator(
                task_id=f"compact_{topic.replace('.', '_')}",
                python_callable=compact_topic,
                op_kwargs={"topic": topic, "ds": DS, "bucket": BUCKET},
            )
        for name, prefix, setting in [
            ("expire_raw", f"{lake.RAW}/", "raw_retention_days"),
            ("expire_quarantine", f"{lake.QUARANTINE}/", "quarantine_retention_days"),
        ]:
            PythonOperator(
                task_id=name,
                python_callable=expire_prefix,
                op_kwargs={"prefix": prefix, "keep_days_setting": setting, "ds": DS, "bucket": BUCKET},
            )
    return dag
