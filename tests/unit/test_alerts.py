"""Slack alerts: what they say, and that an undeliverable one is retried, logged and never raised.

Messages go through the Airflow Slack provider to a local HTTP receiver standing in for Slack's webhook endpoint.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.orchestration import alerts
from sluice.orchestration.alerts import TaskFailure, failure_message, send, success_message
from sluice.stack.slack_receiver import Receiver, read_messages

UI = "https://airflow.example.com"
ERROR = "\n".join(f"line {n}" for n in range(1, 31)) + "\nGateFailed: stg_listings dt=2026-11-19: 1 of 17 checks failed"


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stack's Slack stand-in on a free port, with the alerts connection pointing at it."""
    server = Receiver(0, tmp_path / "messages.jsonl")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/test"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({"conn_type": "slackwebhook", "password": url}))
    yield server.path
    server.shutdown()


class _Failing(BaseHTTPRequestHandler):
    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _context(try_number: int, max_tries: int, exception: BaseException | None) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="sluice_marts",
        task_id="stg_listings",
        try_number=try_number,
        max_tries=max_tries,
        start_date=datetime.now(UTC) - timedelta(seconds=42),
    )
    run = SimpleNamespace(run_id="scheduled__2026-11-19T00:00:00+00:00")
    start = datetime(2026, 11, 19, tzinfo=UTC)
    return {
        "ti": ti,
        "dag_run": run,
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
        "exception": exception,
    }


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_a_first_failure_with_retries_left_reads_as_a_warning_with_everything_to_act_on() -> None:
    failure = TaskFailure.from_context(_context(1, 2, RuntimeError(ERROR)), UI, will_retry=True)
    message = failure_message(failure)
    text = _text(message)
    assert message["text"] == ":warning: sluice_marts.stg_listings failed, retrying"
    assert "*Try* 1 of 3 (a retry follows)" in text
    assert "2026-11-19 00:00 → 2026-11-20 00:00 UTC" in text
    assert "*Duration* 42 s" in text or "*Duration* 43 s" in text
    assert "GateFailed: stg_listings dt=2026-11-19: 1 of 17 checks failed" in text
    assert "line 19" not in text
    assert "line 20" in text
    assert (
        f"{UI}/dags/sluice_marts/runs/scheduled__2026-11-19T00%3A00%3A00%2B00%3A00/tasks/stg_listings?try_number=1"
        in text
    )


def test_the_last_try_and_a_repeated_failure_read_differently() -> None:
    last = failure_message(TaskFailure.from_context(_context(1, 0, RuntimeError("boom")), UI, will_retry=False))
    again = failure_message(TaskFailure.from_context(_context(4, 5, RuntimeError("boom")), UI, will_retry=False))
    assert last["text"] == ":rotating_light: sluice_marts.stg_listings failed, no retries left"
    assert "*Try* 1 of 1 (no retries remain)" in _text(last)
    assert again["text"] == ":rotating_light: sluice_marts.stg_listings failed again, no retries left"
    assert "*Try* 4 of 6" in _text(again)


def test_a_killed_task_is_still_reported_without_an_exception() -> None:
    message = failure_message(TaskFailure.from_context(_context(1, 0, None), UI, will_retry=False))
    assert "the task process was killed or stopped heartbeating" in _text(message)


def test_the_success_summary_adds_up_the_runs_models() -> None:
    results = [
        {"model": "stg_users", "rows": 1200, "checks": 11},
        {"model": "mart_gmv_daily", "rows": 35, "checks": 20},
        {"model": "mart_marketplace_kpis", "rows": 1, "checks": 30},
    ]
    message = success_message("sluice_marts", "manual__1", "2026-11-19", 754.0, results, UI)
    text = _text(message)
    assert message["text"] == ":white_check_mark: sluice_marts succeeded: 3 marts built for 2026-11-19"
    assert "*Models* 3   *Rows* 1,236   *Quality checks passed* 61   *Duration* 12.6 min" in text
    assert "Largest: stg_users 1,200, mart_gmv_daily 35, mart_marketplace_kpis 1" in text


def test_an_alert_goes_through_the_slack_provider_to_the_webhook(receiver: Path) -> None:
    message = success_message("sluice_marts", "manual__1", "2026-11-19", 60.0, [], UI)
    assert send(message) is True
    (received,) = read_messages(receiver)
    assert received["path"] == "/services/T0/B0/test"
    assert received["payload"]["text"] == message["text"]


def test_an_undeliverable_alert_is_retried_and_logged_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/down"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({"conn_type": "slackwebhook", "password": url}))
    try:
        with caplog.at_level(logging.ERROR, logger=alerts.__name__):
            assert send({"text": "hello"}, attempts=3) is False
    finally:
        server.shutdown()
    assert _Failing.posts == 3
    assert "Slack alert not delivered after 3 attempts" in caplog.text


def test_an_alert_to_a_closed_port_is_not_delivered_and_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:9/services/T0/B0/closed"  # the discard port: nothing listens
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({"conn_type": "slackwebhook", "password": url}))
    assert send({"text": "hello"}) is False


def test_a_manual_run_names_the_date_it_builds() -> None:
    context = {**_context(1, 0, RuntimeError("boom")), "data_interval_start": None, "params": {"ds": "2026-11-18"}}
    message = failure_message(TaskFailure.from_context(context, UI, will_retry=False))
    assert "*Data interval* dt=2026-11-18 (manual run)" in _text(message)


def test_a_try_found_by_the_sweep_reads_like_a_callbacks_alert() -> None:
    """The sweep builds the message from the REST API's try and run, as Airflow 3.3 returns them."""
    tried = {
        "dag_id": "sluice_maintenance",
        "task_id": "expire_raw",
        "dag_run_id": "manual__2026-03-15__20261207T225003677424",
        "try_number": 2,
        "max_tries": 2,
        "state": "failed",
        "start_date": "2026-12-07T22:50:05.100000Z",
        "end_date": "2026-12-07T22:50:17.600000Z",
    }
    run = {"data_interval_start": None, "data_interval_end": None, "conf": {"ds": "2026-03-15"}}
    message = failure_message(TaskFailure.from_api(tried, run, UI, will_retry=True, error="killed on its own"))
    text = _text(message)
    assert message["text"] == ":warning: sluice_maintenance.expire_raw failed, retrying"
    assert "*Try* 2 of 3 (a retry follows)" in text
    assert "*Data interval* dt=2026-03-15 (manual run)" in text
    assert "*Duration* 12 s" in text
    assert "```killed on its own```" in text
    assert (
        f"{UI}/dags/sluice_maintenance/runs/manual__2026-03-15__20261207T225003677424/tasks/expire_raw?try_number=2"
        in text
    )
