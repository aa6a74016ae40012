"""The maintenance DAG: one compaction task per topic and the two retention tasks, each on the run's own date."""

from __future__ import annotations

from datetime import UTC, datetime

from sluice.orchestration.maintenance_dag import maintenance_dag
from sluice.settings import load_settings

TOPICS = ["marketplace.chats", "marketplace.listings"]


def test_a_compaction_task_per_topic_and_retention_for_raw_and_quarantine() -> None:
    dag = maintenance_dag(load_settings(lake_bucket="lake-a"), TOPICS)
    assert sorted(dag.task_ids) == [
        "compact_marketplace_chats",
        "compact_marketplace_listings",
        "expire_quarantine",
        "expire_raw",
    ]
    assert dag.get_task("expire_raw").op_kwargs["keep_days_setting"] == "raw_retention_days"  # type: ignore[attr-defined]
    assert dag.params["lake_bucket"] == "lake-a"
    assert all(task.on_failure_callback and task.retries >= 1 for task in dag.tasks)


def test_a_scheduled_run_works_on_its_interval_and_a_manual_one_on_the_date_and_bucket_it_names() -> None:
    task = maintenance_dag(load_settings(), TOPICS).get_task("compact_marketplace_listings")
    start = datetime(2026, 3, 9, 3, tzinfo=UTC)
    scheduled = {"params": {"ds": None, "lake_bucket": "lake"}, "data_interval_start": start}
    manual = {"params": {"ds": "2026-03-01", "lake_bucket": "test-bucket"}, "data_interval_start": None}
    kwargs = task.op_kwargs  # type: ignore[attr-defined]
    assert task.render_template(kwargs["ds"], scheduled) == "2026-03-09"
    assert task.render_template(kwargs["ds"], manual) == "2026-03-01"
    assert task.render_template(kwargs["bucket"], manual) == "test-bucket"
