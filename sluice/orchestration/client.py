"""A small client of Airflow 3's REST API (/api/v2), for the demo, the tests and scripts: trigger a DAG for a date,
wait for the run, read its task instances, clear tasks, backfill. Signs in as the stack's admin user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import requests

from sluice.settings import Settings
from sluice.stack.airflow import ADMIN_USER, admin_password, local_api

FINISHED = {"success", "failed"}
PAGE = 100  # Airflow's [api] maximum_page_limit: a list endpoint serves at most this many, whatever `limit` asks
TASK_ENDED = {"success", "failed", "upstream_failed", "skipped"}


class AirflowError(RuntimeError):
    """The API refused a request, or a run did not end as expected."""


class AirflowClient:
    def __init__(self, settings: Settings, base_url: str | None = None) -> None:
        self.base_url = (base_url or local_api(settings)).rstrip("/")
        self._settings = settings
        self._session = requests.Session()

    def _sign_in(self) -> None:
        reply = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": ADMIN_USER, "password": admin_password(self._settings)},
            timeout=30,
        )
        if not reply.ok:
            raise AirflowError(
                f"signing in to {self.base_url} as {ADMIN_USER} failed: {reply.status_code} {reply.text}"
            )
        self._session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if "Authorization" not in self._session.headers:
            self._sign_in()
        reply = self._session.request(method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs)
        if reply.status_code == 401:  # the token expired: once more with a new one
            self._sign_in()
            reply = self._session.request(method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs)
        if not reply.ok:
            raise AirflowError(f"{method} {path}: {reply.status_code} {reply.text[:2000]}")
        return reply.json() if reply.content else None

    def collection(
        self, path: str, key: str, params: dict[str, Any] | None = None, page: int = PAGE
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint (`key` of each reply), read a page at a time in the endpoint's order (one the
        API makes total with the primary key)."""
        items: list[dict[str, Any]] = []
        while True:
            reply = self.request("GET", path, params={**(params or {}), "limit": page, "offset": len(items)})
            items += reply[key]
            if not reply[key] or len(items) >= reply["total_entries"]:
                return items

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        """The DAG once the DAG processor has parsed it; fails with the import error if it broke."""
        deadline = time.monotonic() + timeout
        while True:
            errors = self.request("GET", "/importErrors")["import_errors"]
            if errors:
                raise AirflowError(f"DAG files failed to import: {errors}")
            try:
                return dict(self.request("GET", f"/dags/{dag_id}"))
            except AirflowError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, ds: date, conf: dict[str, Any] | None = None) -> str:
        """A manual run that builds the day `ds` (the DAG's `ds` param); `conf` sets other params."""
        body = {
            "dag_run_id": f"manual__{ds}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
            "logical_date": None,  # a date can have many manual runs; only scheduled ones own a logical date
            "conf": {**(conf or {}), "ds": ds.isoformat()},
        }
        return str(self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def backfill(self, dag_id: str, first: date, last: date, conf: dict[str, Any] | None = None) -> int:
        """Create runs for the DAG's scheduled intervals from `first` to `last`, one at a time, re-running dates that
        have run before (as `airflow backfill create --reprocess-behavior completed` does); returns its id."""
        body = {
            "dag_id": dag_id,
            "from_date": f"{first}T00:00:00Z",
            "to_date": f"{last}T00:00:00Z",
            "dag_run_conf": conf or {},
            "max_active_runs": 1,
            "reprocess_behavior": "completed",
        }
        return int(self.request("POST", "/backfills", json=body)["id"])

    def wait_backfill(self, backfill_id: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (backfill := self.request("GET", f"/backfills/{backfill_id}"))["completed_at"] is None:
            if time.monotonic() > deadline:
                raise AirflowError(f"backfill {backfill_id} of {backfill['dag_id']} not complete after {timeout:.0f}s")
            time.sleep(3)
        return dict(backfill)

    def runs(self, dag_id: str, conf_contains: str) -> list[dict[str, Any]]:
        """The DAG's runs whose conf contains the text (a test's own bucket, say), oldest first."""
        params = {"order_by": "run_after", "conf_contains": conf_contains}
        return self.collection(f"/dags/{dag_id}/dagRuns", "dag_runs", params)

    def wait_for_run_after(self, dag_id: str, after: str, timeout: float) -> str:
        """The id of the DAG's first run queued after the ISO time `after` (one an asset event started, say)."""
        deadline = time.monotonic() + timeout
        path = f"/dags/{dag_id}/dagRuns?limit=1&order_by=run_after&run_after_gte={quote(after)}"
        while not (runs := self.request("GET", path)["dag_runs"]):
            if time.monotonic() > deadline:
                raise AirflowError(f"no run of {dag_id} started after {after} within {timeout:.0f}s")
            time.sleep(3)
        return str(runs[0]["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def wait(
        self,
        dag_id: str,
        run_id: str,
        timeout: float,
        until: set[str] = FINISHED,
        progress: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the run until its state is in `until`; `progress` sees its task instances at each poll."""
        deadline = time.monotonic() + timeout
        while (run := self.run(dag_id, run_id))["state"] not in until:
            if progress is not None:
                progress(self.task_instances(dag_id, run_id))
            if time.monotonic() > deadline:
                states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
                raise AirflowError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s: {states}")
            time.sleep(3)
        return run

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.collection(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool = True) -> dict[str, int]:
        """Clear tasks of a run (and what depends on them) so the scheduler runs them again. Returns each named
        task's try number before, for `wait_cleared`."""
        tries = {ti["task_id"]: ti["try_number"] for ti in self.task_instances(dag_id, run_id)}
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "only_failed": False,
            "include_downstream": downstream,
            "reset_dag_runs": True,
        }
        self.request("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)
        return {task: tries[task] for task in task_ids}

    def wait_cleared(self, dag_id: str, run_id: str, tries_before: dict[str, int], timeout: float) -> dict[str, Any]:
        """Wait until each cleared task has run again to an end, then until the run has ended; returns the run.
        (The run's own state alone can still read as before the clear.)"""
        deadline = time.monotonic() + timeout
        while True:
            now = {ti["task_id"]: ti for ti in self.task_instances(dag_id, run_id)}
            if all(now[t]["try_number"] > n and now[t]["state"] in TASK_ENDED for t, n in tries_before.items()):
                return self.wait(dag_id, run_id, timeout=max(deadline - time.monotonic(), 60))
            if time.monotonic() > deadline:
                raise AirflowError(f"{dag_id} run {run_id}: {sorted(tries_before)} did not run again in {timeout:.0f}s")
            time.sleep(3)

    def timing(self, dag_id: str, run_id: str) -> tuple[float, float]:
        """(wall seconds of the run, sum of its task instances' run times): their gap is Airflow's overhead."""
        run = self.run(dag_id, run_id)
        wall = (_parse(run["end_date"]) - _parse(run["start_date"])).total_seconds()
        busy = sum(ti["duration"] or 0.0 for ti in self.task_instances(dag_id, run_id))
        return wall, busy


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
