"""Superset for analysts, on the real Superset, the real SQL endpoint and a real browser, over the demo's marts."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from sluice.marts.project import load_project
from sluice.objectstore import s3_client
from sluice.orchestration.client import AirflowClient
from sluice.orchestration.marts_dag import DAG_ID as MARTS_DAG
from sluice.serving.superset_api import SupersetClient, SupersetError
from sluice.serving.superset_sync import admin_client, sync
from sluice.settings import REPO_ROOT, Settings
from sluice.stack.superset import SUPERSET_DIR, superset_bin
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS, render_dashboard, superset_sign_in
from tests.integration.conftest import RUN_TIMEOUT_S, DemoRun

pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 600)  # the shared demo may run first, here

ARTIFACTS = REPO_ROOT / "test-artifacts"
DASHBOARD_FILES = sorted((REPO_ROOT / "superset" / "dashboards").glob("*.yml"))
REFRESH_DAG = "sluice_superset_refresh"
UNPUBLISHED_KEY = "a-long-random-key-that-nobody-published-0123456789"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def analyst(demo: DemoRun) -> SupersetClient:
    """Signed in with the login the demo printed."""
    login = re.search(r"analysts +user (\S+), password (\S+) ", demo.output)
    assert login, demo.output[-3000:]
    return SupersetClient(demo.settings.superset_url, login.group(1), login.group(2))


def _counts(client: SupersetClient) -> dict[str, int]:
    kinds = ("database", "dataset", "chart", "dashboard", "security/roles", "security/users")
    return {kind: len(client.find(kind, ["id"])) for kind in kinds}


def _mart_parquet(settings: Settings, mart: str, day: date) -> Any:
    """The published partition, read with boto3 and pyarrow alone."""
    s3 = s3_client(settings)
    prefix = f"marts/{mart}/dt={day.isoformat()}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=prefix)["Contents"]]
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read()))
        for key in keys
        if key.endswith(".parquet")
    ]
    assert tables, f"no Parquet under {prefix}"
    return tables


def _newest_speed_snapshot(settings: Settings, family: str) -> Any:
    """The speed track's newest snapshot of a family (`speed/<family>/v<batch>.parquet`), read with boto3 and
    pyarrow alone."""
    s3 = s3_client(settings)
    listed = s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix=f"speed/{family}/")["Contents"]
    newest = max(o["Key"] for o in listed if o["Key"].endswith(".parquet"))
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.lake_bucket, Key=newest)["Body"].read()))


def _chart_id(client: SupersetClient, title: str) -> int:
    return int(client.find("chart", ["id"], slice_name=title)[0]["id"])


def test_the_demo_ends_with_superset_synced_and_prints_the_dashboards(demo: DemoRun, analyst: SupersetClient) -> None:
    for slug in ("marketplace-health", "supply", "trust-and-safety", "today"):
        assert f"{demo.settings.superset_url}/superset/dashboard/{slug}/" in demo.output
    titles = {d["dashboard_title"] for d in analyst.find("dashboard", ["dashboard_title"])}
    assert titles == {yaml.safe_load(path.read_text())["title"] for path in DASHBOARD_FILES}


def test_a_second_sync_changes_nothing_and_creates_nothing(demo: DemoRun) -> None:
    admin = admin_client(demo.settings)
    before = _counts(admin)
    report = sync(demo.settings)
    assert not report.changed, report.summary()
    assert _counts(admin) == before


def test_a_changed_description_in_a_marts_yaml_reaches_its_dataset(demo: DemoRun, tmp_path: Path) -> None:
    models = tmp_path / "marts"
    shutil.copytree(REPO_ROOT / "marts", models)
    spec_file = models / "marts" / "mart_gmv_daily.yml"
    spec = yaml.safe_load(spec_file.read_text())
    new_text = f"gross merchandise value in KRW, reworded by a test at {time.time()}"
    next(c for c in spec["columns"] if c["name"] == "gmv")["description"] = new_text
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))

    admin = admin_client(demo.settings)
    try:
        report = sync(demo.settings, load_project(models))
        assert report.updated["dataset"] == 1, report.summary()
        assert not report.created, report.summary()
        dataset = admin.find("dataset", ["id"], table_name="mart_gmv_daily", schema=demo.settings.marts_schema)[0]
        columns = admin.get(f"/api/v1/dataset/{dataset['id']}")["result"]["columns"]
        assert next(c for c in columns if c["column_name"] == "gmv")["description"] == new_text
    finally:
        sync(demo.settings)


def test_a_chart_removed_from_its_dashboard_file_is_deleted(demo: DemoRun, tmp_path: Path) -> None:
    folder = tmp_path / "dashboards"
    shutil.copytree(REPO_ROOT / "superset" / "dashboards", folder)
    health = folder / "marketplace_health.yml"
    spec = yaml.safe_load(health.read_text())
    removed = spec["rows"][0].pop()["title"]  # the last big number of the first row
    health.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))

    admin = admin_client(demo.settings)
    try:
        report = sync(demo.settings, dashboards_dir=folder)
        assert report.deleted["chart"] == 1, report.summary()
        assert admin.find("chart", ["id"], slice_name=removed) == []
    finally:
        assert sync(demo.settings).created["chart"] == 1
    assert len(admin.find("chart", ["id"], slice_name=removed)) == 1


def test_a_charts_gmv_for_the_day_equals_the_marts_parquet(demo: DemoRun, analyst: SupersetClient) -> None:
    expected = sum(sum(v for v in table.column("gmv").to_pylist()) for table in _mart_parquet(
        demo.settings, "mart_gmv_daily", demo.day))  # fmt: skip
    result = analyst.get(f"/api/v1/chart/{_chart_id(analyst, 'GMV by day and category')}/data/")["result"][0]
    by_day: dict[date, int] = {}
    for row in result["data"]:
        day = datetime.fromtimestamp(row["dt"] / 1000, tz=UTC).date()
        by_day[day] = by_day.get(day, 0) + row["gmv"]
    assert by_day[demo.day] == expected > 0


def test_the_today_dashboard_shows_the_speed_tracks_hours_uncached(demo: DemoRun, analyst: SupersetClient) -> None:
    today = datetime.now(UTC).date()  # the demo's live events are today's, and no batch partition has them
    expected: dict[tuple[int, str], int] = {}
    for row in _newest_speed_snapshot(demo.settings, "new_listings_hourly").to_pylist():
        if row["dt"] == today:
            key = (row["hr"], row["category"])
            expected[key] = expected.get(key, 0) + row["new_listings"]
    assert expected, "the demo's live events made no new listings today"

    chart = f"/api/v1/chart/{_chart_id(analyst, 'New listings by hour and category')}/data/"
    result = analyst.get(chart)["result"][0]
    assert {(row["hr"], row["category"]): row["created_listings"] for row in result["data"]} == expected
    assert not analyst.get(chart)["result"][0]["is_cached"], "a serving view's chart is queried afresh every time"

    sales = analyst.get(f"/api/v1/chart/{_chart_id(analyst, 'Sales today')}/data/")["result"][0]["data"]
    activity = _newest_speed_snapshot(demo.settings, "activity_hourly").to_pylist()
    assert sales == [{"hourly_transactions": sum(r["transactions"] for r in activity if r["dt"] == today)}]


def test_the_analyst_reads_and_queries_but_cannot_change_anything(demo: DemoRun, analyst: SupersetClient) -> None:
    dashboard = analyst.find("dashboard", ["id"], slug="marketplace-health")[0]["id"]
    for method, path, payload in [
        ("PUT", f"/api/v1/dashboard/{dashboard}", {"dashboard_title": "renamed by an analyst"}),
        ("POST", "/api/v1/database/", {"database_name": "mine", "sqlalchemy_uri": "sqlite://"}),
        ("PUT", f"/api/v1/dataset/{analyst.find('dataset', ['id'])[0]['id']}", {"description": "mine"}),
    ]:
        with pytest.raises(SupersetError) as refused:
            analyst.request(method, path, json=payload)
        assert refused.value.status == 403, f"{method} {path}: {refused.value}"

    database = analyst.find("database", ["id"])
    assert len(database) == 1  # the marts' connection, and nothing else
    schema = demo.settings.marts_schema
    rows = sum(t.num_rows for t in _mart_parquet(demo.settings, "mart_gmv_daily", demo.day))
    query = {"database_id": database[0]["id"], "schema": schema, "runAsync": False,
             "sql": f"select count(*) as n from {schema}.mart_gmv_daily where dt = '{demo.day}'"}  # fmt: skip
    assert analyst.post("/api/v1/sqllab/execute/", query)["data"] == [{"n": rows}]

    drop = query | {"sql": f"drop table {schema}.mart_gmv_daily"}
    with pytest.raises(SupersetError) as refused:
        analyst.post("/api/v1/sqllab/execute/", drop)
    assert "DML_NOT_ALLOWED_ERROR" in str(refused.value)
    assert analyst.post("/api/v1/sqllab/execute/", query)["data"] == [{"n": rows}]  # still there


def test_the_analyst_sees_every_dashboard_render_with_data_in_a_browser(demo: DemoRun) -> None:
    from playwright.sync_api import sync_playwright

    login = re.search(r"analysts +user (\S+), password (\S+) ", demo.output)
    assert login
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            superset_sign_in(page, demo.settings.superset_url, login.group(1), login.group(2))
            for path in DASHBOARD_FILES:
                spec = yaml.safe_load(path.read_text())
                charts = sum(len(row) for row in spec["rows"])
                url = f"{demo.settings.superset_url}/superset/dashboard/{spec['slug']}/"
                render_dashboard(page, url, charts)
                page.wait_for_timeout(2000)  # ECharts animates its series in for about a second
                page.screenshot(path=str(ARTIFACTS / f"superset-{spec['slug']}.png"), full_page=True)
        finally:
            browser.close()


def test_publishing_a_mart_refreshes_superset_and_drops_its_cached_results(
    demo: DemoRun, analyst: SupersetClient
) -> None:
    chart = f"/api/v1/chart/{_chart_id(analyst, 'GMV by day and category')}/data/"
    analyst.get(chart)
    assert analyst.get(chart)["result"][0]["is_cached"], "the second request is served from the cache"

    airflow = AirflowClient(demo.settings)
    refreshes_before = {r["dag_run_id"] for r in airflow.request("GET", f"/dags/{REFRESH_DAG}/dagRuns")["dag_runs"]}
    tries = airflow.clear(MARTS_DAG, demo.run_id, ["mart_gmv_daily"], downstream=False)
    assert airflow.wait_cleared(MARTS_DAG, demo.run_id, tries, timeout=900)["state"] == "success"

    new: list[dict[str, Any]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = airflow.request("GET", f"/dags/{REFRESH_DAG}/dagRuns")["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in refreshes_before and r["run_type"] == "asset_triggered"]
        if new and all(r["state"] in ("success", "failed") for r in new):
            break
        time.sleep(3)
    assert new, "no refresh ran after the publish"
    assert all(r["state"] == "success" for r in new), new
    assert not analyst.get(chart)["result"][0]["is_cached"], "the publish dropped the cached result"


def test_superset_refuses_to_start_outside_local_with_a_default_secret_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{tmp_path / 'superset.db'}",
        "SLUICE_PROFILE": "k8s",
    }

    def start_with(key: str) -> subprocess.CompletedProcess[str]:
        command = [str(superset_bin("superset")), "version"]
        env_with_key = env | {"SUPERSET_SECRET_KEY": key}
        return subprocess.run(command, env=env_with_key, capture_output=True, text=True, timeout=120, check=False)

    for key in ("", "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET", "CHANGE_ME_SECRET_KEY"):
        refused = start_with(key)
        assert refused.returncode != 0
        assert "Refusing to start Superset (profile 'k8s')" in refused.stdout + refused.stderr
        assert "SLUICE_SUPERSET_SECRET_KEY" in refused.stdout + refused.stderr
    accepted = start_with(UNPUBLISHED_KEY)
    assert accepted.returncode == 0, accepted.stderr[-2000:]
