"""Slack alerts for Airflow runs, sent through the Slack provider's incoming-webhook hook.

The webhook URL lives in the Airflow connection `slack_alerts` (AIRFLOW_CONN_SLACK_ALERTS); locally it points at
the stack's Slack stand-in. An alert that cannot be delivered is retried a few times, then logged: it never fails
or delays the task it reports on beyond its short timeout.
"""

from __future__ import annotations

import logging
import os
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

SLACK_CONNECTION = "slack_alerts"
ERROR_LINES = 12  # the end of the error, where the cause is; the full text is one click away in the log


def send(message: dict[str, Any], conn_id: str = SLACK_CONNECTION, attempts: int = 3) -> bool:
    """Post a message; True when Slack (or its stand-in) accepted it. Never raises."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    retries = attempts - 1
    handlers = [
        ConnectionErrorRetryHandler(max_retry_count=retries),
        ServerErrorRetryHandler(max_retry_count=retries),
        RateLimitErrorRetryHandler(max_retry_count=retries),
    ]
    try:
        SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=5, retry_handlers=handlers).send_dict(message)
    except Exception:
        log.exception("Slack alert not delivered after %d attempts (connection %r): %s", attempts, conn_id, message)
        return False
    return True


@dataclass(frozen=True)
class TaskFailure:
    """What an engineer needs to act on a failed task, read from an Airflow callback context."""

    dag_id: str
    task_id: str
    run_id: str
    interval: str
    try_number: int
    max_tries: int
    will_retry: bool
    duration_s: float | None
    error: str
    log_url: str

    @classmethod
    def from_context(cls, context: Mapping[str, Any], ui_url: str, will_retry: bool) -> TaskFailure:
        ti, run = context["ti"], context["dag_run"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        params = context.get("params") or {}
        if params.get("ds"):
            interval = f"dt={params['ds']} (manual run)"
        else:
            interval = f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC" if start and end else "none"
        started = getattr(ti, "start_date", None)
        duration = (datetime.now(UTC) - started).total_seconds() if started else None
        log_url = (
            f"{ui_url.rstrip('/')}/dags/{ti.dag_id}/runs/{quote(run.run_id)}/tasks/{ti.task_id}"
            f"?try_number={ti.try_number}"
        )
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=run.run_id,
            interval=interval,
            try_number=ti.try_number,
            max_tries=max(ti.max_tries + 1, ti.try_number),  # Airflow's max_tries counts the retries
            will_retry=will_retry,
            duration_s=duration,
            error=error_tail(context.get("exception")),
            log_url=log_url,
        )


def error_tail(error: BaseException | str | None, lines: int = ERROR_LINES) -> str:
    if error is None:
        return "no exception reached the callback: the task process was killed or stopped heartbeating"
    text = error if isinstance(error, str) else "".join(traceback.format_exception_only(error))
    return "\n".join(text.strip().splitlines()[-lines:])


def failure_message(failure: TaskFailure) -> dict[str, Any]:
    """A first failure that will be retried reads as a warning; the last try, or one failing again, as an alarm."""
    if failure.will_retry:
        headline = f":warning: {failure.dag_id}.{failure.task_id} failed, retrying"
    elif failure.try_number > 1:
        headline = f":rotating_light: {failure.dag_id}.{failure.task_id} failed again, no retries left"
    else:
        headline = f":rotating_light: {failure.dag_id}.{failure.task_id} failed, no retries left"
    if failure.will_retry:
        retries = "a retry follows"
    elif failure.try_number < failure.max_tries:
        retries = "not retried: the data needs a fix first, then Clear the task"
    else:
        retries = "no retries remain"
    duration = f"{failure.duration_s:.0f} s" if failure.duration_s is not None else "unknown"
    fields = [
        f"*DAG* {failure.dag_id}",
        f"*Task* {failure.task_id}",
        f"*Data interval* {failure.interval}",
        f"*Try* {failure.try_number} of {failure.max_tries} ({retries})",
        f"*Duration* {duration}",
        f"*Run* {failure.run_id}",
    ]
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": field} for field in fields]},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{failure.error}```"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{failure.log_url}|Open the log>"}},
        ],
    }


def success_message(dag_id: str, run_id: str, interval: str, duration_s: float, results: list[dict[str, Any]],
                    ui_url: str) -> dict[str, Any]:  # fmt: skip
    """One summary for a whole run: models built, rows published, checks passed, how long it took."""
    rows = sum(r["rows"] for r in results)
    checks = sum(r["checks"] for r in results)
    headline = f":white_check_mark: {dag_id} succeeded: {len(results)} marts built for {interval}"
    link = f"{ui_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"
    summary = (
        f"*Models* {len(results)}   *Rows* {rows:,}   *Quality checks passed* {checks:,}   "
        f"*Duration* {duration_s / 60:.1f} min"
    )
    largest = sorted(results, key=lambda r: -r["rows"])[:5]
    top = ", ".join(f"{r['model']} {r['rows']:,}" for r in largest)
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Largest: {top}"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open the run> ({run_id})"}},
        ],
    }


def on_failure(context: Mapping[str, Any]) -> None:
    """Task callback: the task failed for good (its last try)."""
    _alert(context, will_retry=False)


def on_retry(context: Mapping[str, Any]) -> None:
    """Task callback: the task failed and Airflow will try again."""
    _alert(context, will_retry=True)


def _alert(context: Mapping[str, Any], will_retry: bool) -> None:
    from sluice.settings import load_settings

    if context.get("exception") is None and not _first_report(context, will_retry):
        return
    send(failure_message(TaskFailure.from_context(context, load_settings().airflow_url, will_retry)))


def _first_report(context: Mapping[str, Any], will_retry: bool) -> bool:
    """For a task killed from outside, the DAG processor runs the callback, and may be asked twice for one try (by
    the heartbeat timeout and by the executor's report of the lost worker): only the first alerts. These callbacks
    all run in the DAG processor, so a file there is a shared enough memory."""
    ti = context["ti"]
    sent = Path(os.environ.get("AIRFLOW_HOME", tempfile.gettempdir())) / "alerts-sent"
    sent.mkdir(parents=True, exist_ok=True)
    name = f"{ti.dag_id}.{ti.task_id}.{context['dag_run'].run_id}.{ti.try_number}.{'retry' if will_retry else 'fail'}"
    try:
        os.close(os.open(sent / name.replace(os.sep, "_"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        log.info("%s was alerted already", name)
        return False
    return True
