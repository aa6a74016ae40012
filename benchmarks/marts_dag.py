"""The marts DAG in Airflow for one simulated day, built twice in one run: first each task with a Spark JVM of its own
(a classic session, Sluice's way before the warm server), then each task a client of the stack's Spark Connect server.

    .venv/bin/python benchmarks/marts_dag.py                   # needs the local stack (`sluice up`); ~35 minutes
    .venv/bin/python benchmarks/marts_dag.py --modes connect   # the warm server alone; a few minutes

The day goes through Kafka and the sink into a bucket of this run's own, as in `sluice demo`. For each mode the
scheduler is restarted with that mode's SLUICE_SPARK_REMOTE (its LocalExecutor's tasks inherit it) and the same
day is built by a manual run of `sluice_marts`; the scheduler is restarted as it was at the end. Reported per mode:
the run's wall time, the sum of its task durations, and Airflow's scheduling gap (a task's start less the end of
the last of its upstream tasks, p50/p95, from the REST API), also without the time it waited for a free task slot
(the idle gap); then the ratios. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sluice.demo import land_simulated_days
from sluice.objectstore import s3_client
from sluice.orchestration.client import AirflowClient
from sluice.orchestration.marts_dag import DAG_ID
from sluice.settings import Settings, load_settings
from sluice.stack.airflow import AirflowScheduler
from sluice.stack.process import wait_until

RESULTS = Path(__file__).parent / "results"
MODES = {"per-task-jvm": "", "connect": None}  # SLUICE_SPARK_REMOTE: empty = classic session; None = the default


def use_mode(settings: Settings, remote: str | None) -> None:
    """Restart the scheduler with the mode's SLUICE_SPARK_REMOTE; its task processes inherit the environment."""
    scheduler = AirflowScheduler(settings)
    scheduler.process.stop()
    if remote is None:
        os.environ.pop("SLUICE_SPARK_REMOTE", None)
    else:
        os.environ["SLUICE_SPARK_REMOTE"] = remote
    scheduler.launch()
    if not wait_until(scheduler.healthy, timeout=scheduler.start_timeout):
        raise RuntimeError(f"the scheduler did not come back; see {scheduler.process.log_file}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(airflow: AirflowClient, run_id: str) -> dict[str, Any]:
    """Wall time, task time and the scheduling gaps of a finished run, all from Airflow's own records.

    A task's gap runs from the moment it could start (its last upstream task ended) to its start. Part of that is
    waiting for a task slot (`SLUICE_AIRFLOW_PARALLELISM`); the idle gap starts once a slot was also free (the last
    end of any task before its start), which leaves Airflow's own latency."""
    instances = {ti["task_id"]: ti for ti in airflow.task_instances(DAG_ID, run_id)}
    tasks = airflow.request("GET", f"/dags/{DAG_ID}/tasks")["tasks"]
    upstream: dict[str, list[str]] = {task["task_id"]: [] for task in tasks}
    for task in tasks:
        for child in task["downstream_task_ids"]:
            upstream[child].append(task["task_id"])
    spans = {
        task_id: (datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"]))
        for task_id, ti in instances.items()
        if ti["start_date"] and ti["end_date"]
    }
    gaps, idle_gaps = [], []
    for task_id, parents in upstream.items():
        if not parents or task_id not in spans:
            continue
        start, ready = spans[task_id][0], max(spans[p][1] for p in parents)
        # When it waited for a slot, the slot it took was freed by the last task that ended before it started.
        free = max([ready, *(end for other, (_, end) in spans.items() if other != task_id and ready <= end <= start)])
        gaps.append((start - ready).total_seconds())
        idle_gaps.append((start - free).total_seconds())
    wall, busy = airflow.timing(DAG_ID, run_id)
    return {
        "run_id": run_id,
        "wall_s": wall,
        "task_s": busy,
        "tasks": len(instances),
        "gap_p50_s": percentile(gaps, 0.5),
        "gap_p95_s": percentile(gaps, 0.95),
        "idle_gap_p50_s": percentile(idle_gaps, 0.5),
        "idle_gap_p95_s": percentile(idle_gaps, 0.95),
    }


def summary(row: dict[str, Any]) -> str:
    return (
        f"wall {row['wall_s'] / 60:5.1f} min  tasks {row['task_s'] / 60:5.1f} min  gap p50 {row['gap_p50_s']:5.1f} s "
        f"p95 {row['gap_p95_s']:5.1f} s  idle gap p50 {row['idle_gap_p50_s']:4.1f} s p95 {row['idle_gap_p95_s']:4.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    modes = args.modes.split(",")
    name = f"bench-dag-{uuid.uuid4().hex[:8]}"
    settings = load_settings(lake_bucket=name, ingest_group=name, marts_schema=name.replace("-", "_"))
    s3_client(settings).create_bucket(Bucket=name)
    (day,) = land_simulated_days(settings, 1, args.seed, print)
    airflow = AirflowClient(settings)
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)
    conf = {"lake_bucket": settings.lake_bucket, "marts_schema": settings.marts_schema}
    results: dict[str, dict[str, Any]] = {}
    try:
        for mode in modes:
            use_mode(settings, MODES[mode])
            run_id = airflow.trigger(DAG_ID, day, conf=conf)
            started = time.monotonic()
            run = airflow.wait(DAG_ID, run_id, timeout=3 * 3600)
            if run["state"] != "success":
                raise RuntimeError(f"{mode}: run {run_id} ended {run['state']}")
            results[mode] = measure(airflow, run_id)
            results[mode]["waited_s"] = time.monotonic() - started
            print(f"{mode:<13} {summary(results[mode])}", flush=True)
    finally:
        use_mode(settings, None)
    if {"per-task-jvm", "connect"} <= results.keys():
        old, new = results["per-task-jvm"], results["connect"]
        print(f"per-task JVM / warm server: wall {old['wall_s'] / new['wall_s']:.1f}x, "
              f"task time {old['task_s'] / new['task_s']:.1f}x")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"marts-dag-{datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"day": str(day), "load": os.getloadavg(), "modes": results}, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
