"""The alert sweep: every few minutes, alert each failed try that no callback reported.

A failed try can end with no callback run for it: apache/airflow#60858 reports that for a task process killed on
its own while its supervisor lives on (on Airflow 3.3.2 here the retry callback did run, within seconds), and a
callback that crashes, or whose DAG processor dies, leaves nothing either. The sweep lists the tries that failed
lately through the REST API, and sends the usual failure message for each one with no record in the lake's
`_ops/alerts/` (`alerts.claim`: the record the callbacks leave too, so a try is reported exactly once, whoever finds
it first).

Why a DAG of its own, every five minutes, rather than a task in the hourly health DAG: a killed task is an incident
now, not at the next hour; the sweep must not share a fate (a run, a retry, a pause) with a DAG it watches; and one
run at a time (max_active_runs=1, no catchup) means a slow sweep never piles up behind itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, CronTriggerTimetable

from sluice.orchestration import START_DATE, alerts, default_args
from sluice.settings import Settings

if TYPE_CHECKING:
    from sluice.orchestration.client import AirflowClient

DAG_ID = "sluice_alert_sweep"
LOOKBACK = timedelta(hours=1)  # every try that ends is seen by about ten sweeps: one missed run loses nothing
# A try's own callback runs moments after its state is recorded, the DAG processor's for a lost worker within a minute:
# the sweep waits this long after a try ended, so it does not pre-empt the message that carries the error.
GRACE = timedelta(seconds=60)
UNREPORTED = (
    "no callback reported this failed try (found by the alert sweep): the task process was killed, or its callback "
    "never ran"
)


def failed_tries(client: AirflowClient, now: datetime, lookback: timedelta, grace: timedelta) -> list[FailedTry]:
    """Failed tries that ended between `now - lookback` and `now - grace`. A task instance's earlier tries live in its
    history, so every task instance touched in the window that failed, waits for a retry or is past its first try has
    its tries read."""
    since, until = now - lookback, now - grace
    window = {"updated_at_gte": since.isoformat()}
    touched = client.collection("/dags/~/dagRuns/~/taskInstances", "task_instances", window)
    found = []
    for ti in touched:
        if ti["state"] not in ("failed", "up_for_retry") and ti["try_number"] <= 1:
            continue
        path = f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/tries"
        for tried in client.request("GET", path)["task_instances"]:
            ended = alerts.api_time(tried.get("end_date"))
            if tried["state"] == "failed" and ended and since <= ended <= until:
                # The API reads a retried try as "failed" too: only the task instance's own failed try is final; an
                # earlier one was retried if it had retries left (a Clear after a last failure gives a new try).
                final = ti["state"] == "failed" and tried["try_number"] == ti["try_number"]
                found.append(FailedTry(tried, will_retry=not final and tried["try_number"] <= tried["max_tries"]))
    return found


@dataclass(frozen=True)
class FailedTry:
    tried: dict[str, Any]  # an item of `.../taskInstances/{task}/tries`
    will_retry: bool


def sweep() -> list[str]:
    """Alert every unreported failed try; returns them as `dag.task run try N` (the task's XCom)."""
    from sluice.orchestration.client import AirflowClient
    from sluice.settings import load_settings

    settings = load_settings()
    client = AirflowClient(settings)
    reported = []
    for failed in failed_tries(client, datetime.now(UTC), LOOKBACK, GRACE):
        tried = failed.tried
        dag_id, task_id, run_id, try_number = (tried[k] for k in ("dag_id", "task_id", "dag_run_id", "try_number"))
        kind = alerts.RETRY if failed.will_retry else alerts.FAIL
        if alerts.claim(dag_id, task_id, run_id, try_number, kind, sender="sweep"):
            run = client.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            failure = alerts.TaskFailure.from_api(tried, run, settings.airflow_url, failed.will_retry, UNREPORTED)
            alerts.send(alerts.failure_message(failure))
            reported.append(f"{dag_id}.{task_id} {run_id} try {try_number}")
    print(f"reported {len(reported)} failed tries no callback had: {reported}")
    return reported


def alert_sweep_dag(settings: Settings) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    with DAG(
        DAG_ID,
        description="Alert failed tries that no callback reported (a task process killed on its own)",
        schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # a safety net nobody has to remember to switch on
        default_args=default_args(1, timedelta(seconds=settings.airflow_retry_delay_seconds)),
        tags=["sluice", "alerts"],
        doc_md=__doc__,
    ) as dag:
        PythonOperator(task_id="sweep", python_callable=sweep)
    return dag
