"""Every alert path, run for real: Airflow of the local stack, its S3 lake, and the Slack stand-in it posts to.

The record of reported tries lives in the lake's `_ops/alerts/`: the callbacks and the sweep both write it there, so
a try is reported once whoever finds it first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ingestion.contract import load_contract
from sluice import lake
from sluice.objectstore import s3_client
from sluice.orchestration import alerts
from sluice.orchestration.alert_sweep import DAG_ID as SWEEP
from sluice.orchestration.alert_sweep import GRACE, sweep
from sluice.orchestration.client import AirflowClient
from sluice.orchestration.maintenance_dag import DAG_ID as MAINTENANCE
from sluice.orchestration.marts_dag import DAG_ID as MARTS
from sluice.orchestration.marts_dag import WAIT_TASK
from sluice.settings import Settings
from sluice.stack.airflow import slack_receiver_url
from tests.integration.test_airflow import slack_messages

pytestmark = pytest.mark.timeout(600)

DAY = date(2026, 3, 15)
LISTINGS = "marketplace.listings"


def _record(settings: Settings, dag_id: str, task_id: str, run_id: str, try_number: int) -> dict[str, Any]:
    key = lake.alert_record_key(dag_id, task_id, run_id, try_number)
    body = s3_client(settings).get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read()
    return dict(json.loads(body))


def _context(dag_id: str, try_number: int, exception: BaseException | None) -> dict[str, Any]:
    """What Airflow hands a callback, as far as the alert reads it."""
    ti = SimpleNamespace(dag_id=dag_id, task_id="stg_listings", try_number=try_number, max_tries=2,
                         start_date=datetime.now(UTC) - timedelta(seconds=42))  # fmt: skip
    return {"ti": ti, "dag_run": SimpleNamespace(run_id="scheduled__2026-11-19T00:00:00+00:00"),
            "exception": exception}  # fmt: skip


def test_a_try_reported_twice_by_airflow_alerts_once_and_a_quiet_retry_is_recorded(
    stack: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG processor may be asked twice for one killed try; the record in `_ops/` keeps it to one message."""
    monkeypatch.setenv("SLUICE_LAKE_BUCKET", unique)
    conn = {"conn_type": "slackwebhook", "password": slack_receiver_url(stack)}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps(conn))
    settings = stack.model_copy(update={"lake_bucket": unique})
    s3_client(settings).create_bucket(Bucket=unique)
    dag_id = f"dag_{unique}"  # this test's messages, among everyone's

    alerts.on_retry(_context(dag_id, 1, exception=None))
    alerts.on_retry(_context(dag_id, 1, exception=None))  # asked again for the same try
    alerts.on_failure(_context(dag_id, 2, exception=RuntimeError("boom")))
    alerts.on_failure(_context(dag_id, 2, exception=None))  # a late second report of the same try
    alerts.on_retry_quietly(_context(dag_id, 3, exception=RuntimeError("broker hiccup")))

    texts = [m["text"] for m in slack_messages(stack) if dag_id in m["text"]]
    assert texts == [
        f":warning: {dag_id}.stg_listings failed, retrying",
        f":rotating_light: {dag_id}.stg_listings failed again, no retries left",
    ]
    run_id = "scheduled__2026-11-19T00:00:00+00:00"
    assert _record(settings, dag_id, "stg_listings", run_id, 1)["kind"] == "retry"
    assert _record(settings, dag_id, "stg_listings", run_id, 2)["kind"] == "fail"
    quiet = _record(settings, dag_id, "stg_listings", run_id, 3)
    assert (quiet["kind"], quiet["sender"]) == ("retry", "callback (not sent)")  # the sweep will leave it alone


TITLE = "airflow worker -- "  # a task process's title names its task instance; its supervisor's names the executor


def _task_process(airflow: AirflowClient, run_id: str, timeout: float = 180) -> tuple[str, int]:
    """The first of the run's task processes seen running: its task id and pid. The REST API's pid can come too late
    for a short task, so the processes' titles are watched instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = {f"{TITLE}{ti['id']}": ti["task_id"] for ti in airflow.task_instances(MAINTENANCE, run_id)}
        polled = time.monotonic()
        while time.monotonic() - polled < 2:
            for proc in Path("/proc").glob("[0-9]*"):
                with contextlib.suppress(OSError):
                    if (title := _title(int(proc.name))) in tasks:
                        return tasks[title], int(proc.name)
            time.sleep(0.02)
    raise AssertionError(f"no task process of {run_id} seen within {timeout:.0f} s")


def _title(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").strip()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_task_process_killed_alone_alerts_once_and_the_sweep_reports_a_try_no_callback_did(
    stack: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL to the task process only: its supervisor lives on and records the try as failed, to be retried. Airflow
    3.3.2 then runs the retry callback after all (apache/airflow#60858 reported none); whoever reports it, the try gets
    exactly one message. A try recorded failed with no callback at all (here set failed through the REST API) is
    reported by the sweep, once."""
    settings, airflow = stack, AirflowClient(stack)
    conn = {"conn_type": "slackwebhook", "password": slack_receiver_url(stack)}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps(conn))  # for the sweep this test runs itself
    s3_client(settings).create_bucket(Bucket=unique)  # an empty lake: each maintenance task is a short one
    airflow.wait_for_dag(SWEEP)
    airflow.wait_for_dag(MAINTENANCE)
    airflow.unpause(MAINTENANCE)
    seen = len(slack_messages(settings))

    run_id = airflow.trigger(MAINTENANCE, DAY, {"lake_bucket": unique})
    try:
        killed, pid = _task_process(airflow, run_id)
        supervisor = _parent(pid)
        assert _title(supervisor).startswith(f"{TITLE}LocalExecutor")  # the executor's worker, supervising the task
        os.kill(pid, signal.SIGKILL)
        os.kill(supervisor, 0)  # still there: only the task process was killed
        marked = "expire_quarantine" if killed != "expire_quarantine" else "expire_raw"
        # The supervisor reports the exit at once; Airflow's heartbeat timeout (90 s) would take longer.
        _wait_state(airflow, run_id, killed, "up_for_retry", timeout=60)
        _wait_state(airflow, run_id, marked, "success", timeout=180)
        path = f"/dags/{MAINTENANCE}/dagRuns/{run_id}/taskInstances/{marked}"
        airflow.request("PATCH", path, json={"new_state": "failed"})
        ended = max(_ended(airflow, run_id, task) for task in (killed, marked))
        time.sleep(max((ended + GRACE - datetime.now(UTC)).total_seconds() + 1, 0))  # the sweep's wait for callbacks

        sweep_run = airflow.trigger(SWEEP, DAY)
        assert airflow.wait(SWEEP, sweep_run, timeout=300)["state"] == "success"

        [kill] = _alerts_of(settings, seen, run_id, killed)
        assert kill["text"] == f":warning: {MAINTENANCE}.{killed} failed, retrying"
        assert "the task process was killed" in str(kill)
        assert "*Try* 1 of 3 (a retry follows)" in str(kill)  # the maintenance DAG retries twice
        assert f"*Run* {run_id}" in str(kill)
        assert _record(settings, MAINTENANCE, killed, run_id, 1)["kind"] == "retry"
        [swept] = _alerts_of(settings, seen, run_id, marked)
        assert swept["text"] == f":rotating_light: {MAINTENANCE}.{marked} failed, no retries left"
        assert "found by the alert sweep" in str(swept)
        assert f"*Data interval* dt={DAY} (manual run)" in str(swept)
        assert _record(settings, MAINTENANCE, marked, run_id, 1) | {"at": None} == {
            "kind": "fail",
            "sender": "sweep",
            "at": None,
        }
        again = sweep()  # a second sweep finds both reported
        assert not [line for line in again if run_id in line], again
        assert [len(_alerts_of(settings, seen, run_id, task)) for task in (killed, marked)] == [1, 1]
    finally:
        _end_run(airflow, MAINTENANCE, run_id)


def test_a_failed_maintenance_task_alerts(stack: Settings, unique: str) -> None:
    """The lake bucket the run names does not exist: every task fails on its first try, and each says so in Slack."""
    settings, airflow = stack, AirflowClient(stack)
    airflow.wait_for_dag(MAINTENANCE)
    airflow.unpause(MAINTENANCE)
    seen = len(slack_messages(settings))

    run_id = airflow.trigger(MAINTENANCE, DAY, {"lake_bucket": unique})  # never created
    try:
        deadline = time.monotonic() + 240
        while not (alerted := _alerts_of(settings, seen, run_id, "expire_raw")):
            assert time.monotonic() < deadline, "no alert for the failed expire_raw within 240 s"
            time.sleep(2)
    finally:
        _end_run(airflow, MAINTENANCE, run_id)

    [alert] = alerted
    assert alert["text"] == f":warning: {MAINTENANCE}.expire_raw failed, retrying"
    body = str(alert)
    assert "NoSuchBucket" in body  # the error's last lines name the cause
    assert "*Try* 1 of 3 (a retry follows)" in body
    assert f"*Data interval* dt={DAY} (manual run)" in body
    assert f"*Run* {run_id}" in body


def test_the_raw_hours_sensor_timing_out_alerts_naming_the_missing_hours(stack: Settings, unique: str) -> None:
    """Every topic's hours of the day are marked complete but two of the listings': the marts run's sensor, given a
    short wait, fails at its deadline and its alert names those two hours and nothing else."""
    settings, airflow = stack, AirflowClient(stack)
    s3 = s3_client(settings)
    s3.create_bucket(Bucket=unique)
    for topic in load_contract().topics:
        for hour in range(24):
            if (topic, hour) not in {(LISTINGS, 5), (LISTINGS, 6)}:
                at = datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=UTC)
                s3.put_object(Bucket=unique, Key=lake.marker_key(topic, at), Body=b"{}")
    dag = airflow.wait_for_dag(MARTS)
    before = _run_ids(airflow, MARTS)
    airflow.unpause(MARTS)
    seen = len(slack_messages(settings))

    run_id = airflow.trigger(MARTS, DAY, {"lake_bucket": unique, "raw_wait_hours": 0.005})  # 18 s
    try:
        deadline = time.monotonic() + 300
        while not (alerted := [m for m in slack_messages(settings)[seen:] if run_id in str(m)]):
            assert time.monotonic() < deadline, "no alert from the raw-hours sensor within 300 s"
            time.sleep(3)
    finally:  # as found: paused again, and without the run the unpause scheduled (its sensor would wait for hours)
        if dag["is_paused"]:
            airflow.request("PATCH", f"/dags/{MARTS}", json={"is_paused": True})
        for made in _run_ids(airflow, MARTS) - before if dag["is_paused"] else {run_id}:
            _end_run(airflow, MARTS, made)

    [alert] = alerted
    assert alert["text"] == f":rotating_light: {MARTS}.{WAIT_TASK} failed, no retries left"
    body = str(alert)
    assert f"s3://{unique} is still incomplete for {DAY} after 0.005 h" in body
    assert f"no completeness marker for {LISTINGS} hours [5, 6]." in body  # and for no other topic


def _alerts_of(settings: Settings, seen: int, run_id: str, task_id: str) -> list[dict[str, Any]]:
    """The Slack messages since the `seen` first about one task of a maintenance run."""
    return [m for m in slack_messages(settings)[seen:] if f"{MAINTENANCE}.{task_id} " in m["text"] and run_id in str(m)]


def _end_run(airflow: AirflowClient, dag_id: str, run_id: str) -> None:
    """Fail and delete a test's run: a pending retry or a waiting sensor would hold one of the DAG's active runs."""
    airflow.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
    airflow.request("DELETE", f"/dags/{dag_id}/dagRuns/{run_id}")


def _run_ids(airflow: AirflowClient, dag_id: str) -> set[str]:
    return {run["dag_run_id"] for run in airflow.collection(f"/dags/{dag_id}/dagRuns", "dag_runs")}


def _wait_state(airflow: AirflowClient, run_id: str, task_id: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (ti := _ti(airflow, run_id, task_id))["state"] != state:
        assert time.monotonic() < deadline, f"{task_id} still {ti['state']} after {timeout:.0f} s, not {state}"
        time.sleep(1)


def _ended(airflow: AirflowClient, run_id: str, task_id: str) -> datetime:
    return datetime.fromisoformat(_ti(airflow, run_id, task_id)["end_date"].replace("Z", "+00:00"))


def _ti(airflow: AirflowClient, run_id: str, task_id: str) -> dict[str, Any]:
    return dict(airflow.request("GET", f"/dags/{MAINTENANCE}/dagRuns/{run_id}/taskInstances/{task_id}"))
