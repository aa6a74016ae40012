"""Airflow wiring: DAG factories, operators, sensors and alerts. DAG files in dags/ only call these.

What every Sluice DAG shares lives here once: its owner, start date, the date a run works on, and default args.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

OWNER = "data-platform"  # the team every Sluice DAG's tasks page
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)  # runs are not caught up (catchup=False); backfills name their dates
# The date a run works on: the first day of its data interval, or the `ds` param of a manual run. Manual runs name
# their date in a param because Airflow allows one run per logical date; a day is re-run by clearing its run.
DS = "{{ params.ds or data_interval_start | ds }}"


def default_args(retries: int, retry_delay: timedelta, *, alert_retries: bool = True) -> dict[str, Any]:
    """Owner, retries and the Slack callbacks: every failure alerts, and (alert_retries) so does every retry. A retry
    that does not alert is still recorded as reported, or the alert sweep would take it for a killed task's."""
    from sluice.orchestration import alerts

    callbacks: dict[str, Callable[..., None]] = {
        "on_failure_callback": alerts.on_failure,
        "on_retry_callback": alerts.on_retry if alert_retries else alerts.on_retry_quietly,
    }
    return {"owner": OWNER, "retries": retries, "retry_delay": retry_delay, **callbacks}
