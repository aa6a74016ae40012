"""DAG integrity: every file in dags/ imports cleanly and quickly, stays thin, and every task can be operated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sluice.settings import REPO_ROOT

DAGS = REPO_ROOT / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
HEAVY = ("pyspark", "great_expectations", "pandas", "pyarrow", "boto3", "duckdb", "kubernetes")


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_there_are_dag_files() -> None:
    assert [f.name for f in DAG_FILES] == [
        "sluice_alert_sweep.py",
        "sluice_bigquery_publish.py",
        "sluice_ingestion_health.py",
        "sluice_maintenance.py",
        "sluice_marts.py",
        "sluice_moderation_model.py",
        "sluice_superset_refresh.py",
    ]


def test_every_dag_file_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "sluice_alert_sweep",
        "sluice_marts",
        "sluice_bigquery_publish",
        "sluice_ingestion_health",
        "sluice_maintenance",
        "sluice_moderation_model",
        "sluice_superset_refresh",
    }


def test_the_superset_refresh_runs_when_any_mart_is_published(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Its schedule is the marts' assets, each alone enough: every file under marts/marts/, nothing else."""
    from airflow.sdk.definitions.asset import AssetAny

    schedule = dagbag.dags["sluice_superset_refresh"].timetable.asset_condition
    assert isinstance(schedule, AssetAny)
    marts = {f"sluice.{path.stem}" for path in (REPO_ROOT / "marts" / "marts").glob("*.sql")}
    assert {asset.name for asset in schedule.objects} == marts


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_every_dag_file_parses_in_under_a_second(dag_file: Path) -> None:
    """CPU time, the best of three: wall time on a loaded 2-core machine says more about the load than the file.
    The first parse also pays for imports the DAG processor has made long before."""
    import runpy

    best = 60.0
    for _ in range(3):
        started = time.process_time()
        runpy.run_path(str(dag_file))
        best = min(best, time.process_time() - started)
    assert best < 1.0, f"{dag_file.name} takes {best:.2f} s of CPU to parse"


def test_every_task_has_retries_and_an_owner(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag.dag_id}.{task.task_id} has no owner"
            if task.task_id != "raw_hours_complete":  # the sensor's own deadline is its retry loop
                assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            assert task.on_failure_callback, f"{dag.dag_id}.{task.task_id} would fail without an alert"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_nothing_heavy(dag_file: Path) -> None:
    """Heavy libraries load inside tasks, never while the DAG processor parses a file."""
    probe = f"""
import json, runpy, sys
import airflow.sdk
before = set(sys.modules)
runpy.run_path({str(dag_file)!r})
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    loaded = json.loads(result.stdout.splitlines()[-1])
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY)
    assert not heavy, f"{dag_file.name} imports {heavy} at parse time"
