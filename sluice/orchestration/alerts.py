"""Slack alerts for Airflow runs, sent through the Slack provider's incoming-webhook hook.

The webhook URL lives in the Airflow connection `slack_alerts` (AIRFLOW_CONN_SLACK_ALERTS); locally it points at
the stack's Slack stand-in. An alert that cannot be delivered is retried a few times, then logged: it never fails
or delays the task it reports on beyond its short timeout.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
        started = getattr(ti, "start_date", None)
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=run.run_id,
            interval=_interval(
                context.get("data_interval_start"), context.get("data_interval_end"), context.get("params")
            ),
            try_number=ti.try_number,
            max_tries=max(ti.max_tries + 1, ti.try_number),  # Airflow's max_tries counts the retries
            will_retry=will_retry,
            duration_s=(datetime.now(UTC) - started).total_seconds() if started else None,
            error=error_tail(context.get("exception")),
            log_url=_log_url(ui_url, ti.dag_id, run.run_id, ti.task_id, ti.try_number),
        )

    @classmethod
    def from_api(
        cls, tried: Mapping[str, Any], run: Mapping[str, Any], ui_url: str, will_retry: bool, error: str
    ) -> TaskFailure:
        """From the REST API: one try (`.../taskInstances/{task}/tries`) and its DAG run (`.../dagRuns/{run}`)."""
        started, ended = (api_time(tried.get(key)) for key in ("start_date", "end_date"))
        return cls(
            dag_id=tried["dag_id"],
            task_id=tried["task_id"],
            run_id=tried["dag_run_id"],
            interval=_interval(
                api_time(run.get("data_interval_start")), api_time(run.get("data_interval_end")), run.get("conf")
            ),
            try_number=tried["try_number"],
            max_tries=max(tried["max_tries"] + 1, tried["try_number"]),
            will_retry=will_retry,
            duration_s=(ended - started).total_seconds() if started and ended else None,
            error=error,
            log_url=_log_url(ui_url, tried["dag_id"], tried["dag_run_id"], tried["task_id"], tried["try_number"]),
        )


def _interval(start: datetime | None, end: datetime | None, params: Mapping[str, Any] | None) -> str:
    if (params or {}).get("ds"):
        return f"dt={params['ds']} (manual run)"  # type: ignore[index]
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC" if start and end else "none"


def _log_url(ui_url: str, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    return f"{ui_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}?try_number={try_number}"


def api_time(timestamp: str | None) -> datetime | None:
    """A timestamp of Airflow's REST API (ISO 8601, maybe with a Z)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")) if timestamp else None


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


RETRY, FAIL = "retry", "fail"  # the kinds of report a failed try gets, kept in its record


def on_failure(context: Mapping[str, Any]) -> None:
    """Task callback: the task failed for good (its last try)."""
    _alert(context, will_retry=False)


def on_retry(context: Mapping[str, Any]) -> None:
    """Task callback: the task failed and Airflow will try again."""
    _alert(context, will_retry=True)


def on_retry_quietly(context: Mapping[str, Any]) -> None:
    """Task callback for DAGs that do not alert retries: the try is recorded as reported, so the sweep leaves it."""
    ti = context["ti"]
    claim(ti.dag_id, ti.task_id, context["dag_run"].run_id, ti.try_number, RETRY, sender="callback (not sent)")


def _alert(context: Mapping[str, Any], will_retry: bool) -> None:
    from sluice.settings import load_settings

    ti = context["ti"]
    kind = RETRY if will_retry else FAIL
    if not claim(ti.dag_id, ti.task_id, context["dag_run"].run_id, ti.try_number, kind, sender="callback"):
        return
    send(failure_message(TaskFailure.from_context(context, load_settings().airflow_url, will_retry)))


def claim(dag_id: str, task_id: str, run_id: str, try_number: int, kind: str, sender: str) -> bool:
    """True for the first sender to report this try; every later one (a second callback, the sweep) gets False.

    The record is an object in the lake's `_ops/` (`lake.alert_record_key`), created with `If-None-Match: *`, so two
    senders on different pods can never both win. A callback for a killed task may be asked twice for one try (the
    heartbeat timeout and the executor's report of the lost worker), and the sweep looks for tries nobody reported.
    When the lake cannot be reached the alert goes out anyway: a duplicate is better than silence."""
    import json

    from botocore.exceptions import ClientError

    from sluice import lake
    from sluice.objectstore import s3_client
    from sluice.settings import load_settings

    settings = load_settings()
    key = lake.alert_record_key(dag_id, task_id, run_id, try_number)
    record = {"kind": kind, "sender": sender, "at": datetime.now(UTC).isoformat()}
    try:
        s3_client(settings, retries=2).put_object(
            Bucket=settings.lake_bucket, Key=key, Body=json.dumps(record).encode(), IfNoneMatch="*"
        )
    except ClientError as error:
        # 412: the record exists; 409 (S3): another sender's create of it is in flight, and that one wins.
        if error.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            log.info("%s was reported already", key)
            return False
        log.exception("could not record %s in s3://%s; alerting anyway", key, settings.lake_bucket)
    except Exception:  # the lake unreachable: connection errors are not ClientErrors
        log.exception("could not record %s in s3://%s; alerting anyway", key, settings.lake_bucket)
    return True
