"""The marts DAG in the real Airflow of the local stack: `sluice demo` simulates a day, ingests it and runs the DAG;
then a mart task fails for real on bad input, alerts, and after the fix a Clear re-runs it to the clean outputs.

Slack is the stack's local stand-in: its messages are read back from its /messages endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import pytest
import requests

from ingestion.contract import load_contract
from ingestion.raw_zone import to_parquet
from sluice.marts.project import load_project
from sluice.objectstore import s3_client
from sluice.orchestration.client import AirflowClient
from sluice.orchestration.marts_dag import DAG_ID, SUMMARY_TASK
from sluice.settings import Settings
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS
from tests.integration.conftest import RUN_TIMEOUT_S, DemoRun
from tests.integration.lake_readers import bad_listings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 600)  # a whole DAG run of Spark jobs on 2 cores


def slack_messages(settings: Settings) -> list[dict[str, Any]]:
    reply = requests.get(f"http://127.0.0.1:{settings.slack_receiver_port}/messages", timeout=10)
    reply.raise_for_status()
    return [message["payload"] for message in reply.json()]


def test_demo_streams_a_day_into_the_lake_and_airflow_builds_every_mart(demo: DemoRun, spark: SparkSession) -> None:
    sent = re.search(r"records to Kafka .* \((\d+) valid, (\d+) producer retries, (\d+) malformed\)", demo.output)
    landed = re.search(r"ingested (\d+) events .*; (\d+) dead letters", demo.output)
    assert sent, demo.output
    assert landed, demo.output
    valid, retries, malformed = map(int, sent.groups())
    # The sink keeps producer retries as received (staging deduplicates), and dead-letters exactly the malformed.
    assert int(landed.group(1)) == valid + retries
    assert int(landed.group(2)) == malformed > 0
    printed = {name: int(rows) for name, rows in re.findall(r"^  (\w+) +(\d+) +\d+$", demo.output, re.MULTILINE)}
    in_lake = _rows_per_model(spark, demo.settings, demo.day)
    assert printed == in_lake, demo.output
    assert in_lake["mart_marketplace_kpis"] == 1  # one row per day
    assert min(in_lake.values()) > 0, in_lake
    assert "airflow    http://127.0.0.1:8080" in demo.output
    assert re.search(r"\[\d\d:\d\d\] 37/37 models done", demo.output), demo.output  # progress while it waited


def _rows_per_model(spark: SparkSession, settings: Settings, day: date) -> dict[str, int]:
    """Each model's published rows of the day, counted in its table."""
    counts = {}
    for name in load_project().models:
        spark.catalog.refreshTable(f"{settings.marts_schema}.{name}")
        counts[name] = spark.sql(f"select * from {settings.marts_schema}.{name} where dt = '{day}'").count()
    return counts


def test_the_run_succeeded_with_every_task_and_sent_one_success_summary(demo: DemoRun) -> None:
    airflow = AirflowClient(demo.settings)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, demo.run_id)}
    assert set(states.values()) == {"success"}, states
    # Read 7 at a time (the API serves at most 100 whatever `limit` asks): every task of the run, each exactly once.
    paged = airflow.collection(f"/dags/{DAG_ID}/dagRuns/{demo.run_id}/taskInstances", "task_instances", page=7)
    expected = [*load_project().models, "raw_hours_complete", "audit", "notify_success"]
    assert sorted(ti["task_id"] for ti in paged) == sorted(expected)
    summaries = [m for m in slack_messages(demo.settings) if demo.run_id in str(m) and "succeeded" in m["text"]]
    assert len(summaries) == 1, summaries
    assert summaries[0]["text"] == f":white_check_mark: {DAG_ID} succeeded: 37 marts built for {demo.day}"
    assert "*Models* 37" in str(summaries[0])
    assert f":white_check_mark: {DAG_ID} succeeded" in demo.output  # the demo prints what Slack got


# The nightly model scores the demo's last day after its marts were built, so a rebuild of mart_moderation_daily
# also compares the model's verdicts (the predictions mart it reads gained the day): those columns may change.
SCORED_SINCE = {
    "mart_moderation_daily": ("scored_decisions", "model_flagged_decisions", "model_precision", "model_recall")
}


def _checksums(spark: SparkSession, settings: Settings, day: date) -> dict[str, str]:
    sums = {}
    for name in load_project().models:
        table = f"{settings.marts_schema}.{name}"
        spark.catalog.refreshTable(table)  # Airflow's jobs rewrote files meanwhile
        rows = spark.table(table).where(f"dt = '{day}'").drop(*SCORED_SINCE.get(name, ())).collect()
        sums[name] = hashlib.sha256(repr(sorted(map(tuple, rows), key=repr)).encode()).hexdigest()
    return sums


def test_a_failed_mart_alerts_and_a_clear_after_the_fix_reruns_to_the_clean_outputs(
    demo: DemoRun, spark: SparkSession
) -> None:
    settings, airflow = demo.settings, AirflowClient(demo.settings)
    clean = _checksums(spark, settings, demo.day)
    s3 = s3_client(settings)
    key = f"raw/marketplace.listings/dt={demo.day}/hr=05/marketplace.listings-p0099-o{0:020d}.parquet"
    s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=to_parquet(bad_listings(demo.day)))
    seen = len(slack_messages(settings))
    try:  # the models after stg_listings keep what they built from its published (clean) partition
        tries = airflow.clear(DAG_ID, demo.run_id, ["stg_listings"], downstream=False)
        run = airflow.wait_cleared(DAG_ID, demo.run_id, tries, timeout=RUN_TIMEOUT_S)
    finally:
        s3.delete_object(Bucket=settings.lake_bucket, Key=key)  # the fix: the bad file is gone
    # The run's own state follows its leaf tasks, which keep their success; the task tells.
    assert run["state"] == "success"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, demo.run_id)}
    assert states["stg_listings"] == "failed"
    assert {state for task, state in states.items() if task != "stg_listings"} == {"success"}
    (alert,) = [m for m in slack_messages(settings)[seen:] if "stg_listings" in m["text"]]
    assert alert["text"] == f":rotating_light: {DAG_ID}.stg_listings failed again, no retries left"
    body = str(alert)
    assert "not_null(listing_id) 1 row" in body
    assert "accepted_range(price" in body
    assert f"/dags/{DAG_ID}/runs/" in body
    assert _checksums(spark, settings, demo.day)["stg_listings"] == clean["stg_listings"]  # still the clean one

    # The fix, then a Clear with downstream: a downstream partition that is gone meanwhile must be rebuilt too.
    downstream = load_project().select(["stg_listings"], downstream=True)
    _delete_partition(settings, "mart_listing_supply", demo.day)
    tries = {ti["task_id"]: ti["try_number"] for ti in airflow.task_instances(DAG_ID, demo.run_id)
             if ti["task_id"] in downstream}  # fmt: skip
    airflow.clear(DAG_ID, demo.run_id, ["stg_listings"], downstream=True)
    run = airflow.wait_cleared(DAG_ID, demo.run_id, tries, timeout=RUN_TIMEOUT_S)
    assert run["state"] == "success"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, demo.run_id)}
    assert set(states.values()) == {"success"}
    assert _checksums(spark, settings, demo.day) == clean


def _delete_partition(settings: Settings, model: str, day: date) -> None:
    s3 = s3_client(settings)
    layer = load_project().model(model).layer
    listed = s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=f"{layer}/{model}/dt={day}/")["Contents"]
    for item in listed:
        s3.delete_object(Bucket=settings.lake_bucket, Key=item["Key"])


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_an_engineer_clears_a_failed_task_in_the_airflow_ui_and_the_run_completes(demo: DemoRun) -> None:
    """The summary task refuses to report success when a model's build record is missing; once it is back, a real
    browser finds the failed task instance in the UI and clears it."""
    from playwright.sync_api import expect, sync_playwright

    from sluice.stack.airflow import admin_password

    settings, airflow = demo.settings, AirflowClient(demo.settings)
    s3, key = s3_client(settings), f"_state/builds/mart_gmv_daily/dt={demo.day}.json"
    record = s3.get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=settings.lake_bucket, Key=key)
    try:
        tries = airflow.clear(DAG_ID, demo.run_id, [SUMMARY_TASK])
        assert airflow.wait_cleared(DAG_ID, demo.run_id, tries, timeout=600)["state"] == "failed"
    finally:
        s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=record)
    seen = len(slack_messages(settings))

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(airflow.base_url, wait_until="networkidle")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(admin_password(settings))
            page.get_by_role("button", name="Sign in").click()
            # The sign-in page sends the browser on by itself once it has the token: under load that can come after a
            # `goto` of ours and take the browser away from the page the test opened.
            page.wait_for_url(lambda url: "/auth/" not in url, timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.goto(f"{airflow.base_url}/dags/{DAG_ID}/runs/{demo.run_id}", wait_until="networkidle")
            failed = page.get_by_role("row").filter(has_text=SUMMARY_TASK)  # the run's task instance table
            expect(failed).to_contain_text("Failed")
            task_page = failed.get_by_role("link", name=SUMMARY_TASK).get_attribute("href")
            assert task_page is not None
            page.goto(urljoin(f"{airflow.base_url}/", task_page), wait_until="networkidle")
            page.get_by_role("button", name="Press shift+c to clear").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text(f"Clear Task Instance: {SUMMARY_TASK}")
            page.screenshot(path=str(ARTIFACTS / "airflow-clear-failed-task.png"))
            dialog.get_by_role("button", name="Confirm").click()
            dialog.wait_for(state="hidden")
        finally:
            browser.close()

    run = airflow.wait_cleared(DAG_ID, demo.run_id, {SUMMARY_TASK: tries[SUMMARY_TASK] + 1}, timeout=600)
    assert run["state"] == "success"  # the summary task ran a third time, cleared from the UI, and succeeded
    summaries = [m for m in slack_messages(settings)[seen:] if "succeeded" in m["text"]]
    assert len(summaries) == 1


def test_the_maintenance_dag_compacts_the_day_and_the_marts_rebuild_from_it_unchanged(
    demo: DemoRun, spark: SparkSession
) -> None:
    from sluice.orchestration.maintenance_dag import DAG_ID as MAINTENANCE

    settings, airflow = demo.settings, AirflowClient(demo.settings)
    s3, topics = s3_client(settings), sorted(load_contract().topics)
    clean = _checksums(spark, settings, demo.day)
    before = _raw_hours(s3, settings.lake_bucket, topics, demo.day)
    assert max(len(keys) for keys, _ in before.values()) > 1  # the sink left several objects in some hours

    airflow.wait_for_dag(MAINTENANCE)
    airflow.unpause(MAINTENANCE)
    run_id = airflow.trigger(MAINTENANCE, demo.day + timedelta(days=1), {"lake_bucket": settings.lake_bucket})
    assert airflow.wait(MAINTENANCE, run_id, timeout=600)["state"] == "success"

    after = _raw_hours(s3, settings.lake_bucket, topics, demo.day)
    assert after.keys() == before.keys()
    for hour, (keys, rows) in after.items():
        assert len(keys) == min(len(before[hour][0]), 1), f"{hour} holds {keys}"  # a quiet hour has no object
        assert rows == before[hour][1], hour  # every marker counts the rows it counted before
    project = load_project()
    readers = [name for name, model in project.models.items() if model.upstream & project.sources.keys()]
    assert len(readers) == 10  # every staging model reads one compacted topic
    tries = airflow.clear(DAG_ID, demo.run_id, readers, downstream=False)
    assert airflow.wait_cleared(DAG_ID, demo.run_id, tries, timeout=RUN_TIMEOUT_S)["state"] == "success"
    assert _checksums(spark, settings, demo.day) == clean


def _raw_hours(s3: Any, bucket: str, topics: list[str], day: date) -> dict[str, tuple[list[str], int]]:
    """Per marked hour of `day`: its Parquet objects, and the rows its completeness marker counts."""
    hours = {}
    for topic in topics:
        for hour in range(24):
            folder = f"raw/{topic}/dt={day}/hr={hour:02d}/"
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=folder).get("Contents", [])]
            if f"{folder}_COMPLETE.json" in listed:
                marker = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}_COMPLETE.json")["Body"].read())
                hours[folder] = ([key for key in listed if key.endswith(".parquet")], marker["rows"])
    return hours


def test_a_task_killed_with_its_worker_alerts_once_and_its_retry_rebuilds_the_same_output(
    demo: DemoRun, spark: SparkSession
) -> None:
    """SIGKILL to the task's process group and to the worker supervising it, as when a node dies: no callback can
    run in the task, so Airflow's heartbeat timeout has the DAG processor run it."""
    settings, airflow = demo.settings, AirflowClient(demo.settings)
    clean = _checksums(spark, settings, demo.day)
    seen = len(slack_messages(settings))
    tries = airflow.clear(DAG_ID, demo.run_id, ["stg_users"], downstream=False)
    task_pid = _running_pid(airflow, demo.run_id, "stg_users")
    worker = int(Path(f"/proc/{task_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # its parent
    os.killpg(task_pid, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)

    run = airflow.wait_cleared(DAG_ID, demo.run_id, {"stg_users": tries["stg_users"] + 1}, timeout=RUN_TIMEOUT_S)

    assert run["state"] == "success"
    states = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in airflow.task_instances(DAG_ID, demo.run_id)}
    assert states["stg_users"] == ("success", tries["stg_users"] + 2)  # the killed try, then its retry
    alerts = [m for m in slack_messages(settings)[seen:] if "stg_users" in m["text"]]
    assert [m["text"] for m in alerts] == [f":warning: {DAG_ID}.stg_users failed, retrying"]
    assert "the task process was killed or stopped heartbeating" in str(alerts[0])
    assert _checksums(spark, settings, demo.day) == clean
    staged = s3_client(settings).list_objects_v2(Bucket=settings.lake_bucket, Prefix="_staging/")
    assert staged.get("KeyCount") == 0, staged.get("Contents")  # nothing left of the killed try's build


def _running_pid(airflow: AirflowClient, run_id: str, task_id: str, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = next(ti for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == task_id)
        if ti["state"] == "running" and ti.get("pid"):
            return int(ti["pid"])
        time.sleep(1)
    raise AssertionError(f"{task_id} did not start within {timeout:.0f} s")
