"""`sluice superset sync`: Superset as code, over its REST API.

Desired state comes from the repository: a dataset for every mart (descriptions and metrics from the mart's YAML)
and for every serving view the speed track has registered (its mart's, never cached), the dashboards of
superset/dashboards/, the connection to the read-only SQL endpoint, and the `analyst` role and
user. Each object is compared with what Superset holds and written only when it differs, so a second run changes
nothing; charts and dashboards the sync made that the files no longer name are deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.marts.project import Model, Project, load_project
from sluice.serving.dashboards import (
    DASHBOARDS_DIR,
    SERVING_VIEWS,
    TIME_COLUMN,
    Chart,
    DashboardSpec,
    load_dashboards,
)
from sluice.serving.speed_views import SOURCE_COLUMN, SOURCE_DESCRIPTION
from sluice.serving.superset_api import SupersetClient, SupersetError
from sluice.serving.superset_objects import chart_params, chart_query_context, dashboard_layout, dashboard_metadata
from sluice.settings import Settings
from sluice.stack.superset import ADMIN_USER, ANALYST_USER, login_hint, password

DATABASE_NAME = "Sluice marts"
MANAGED_BY = "Sluice"  # certified_by of every chart and dashboard the sync owns; others are left alone
ANALYST_ROLE = "analyst"
# What the analyst role may do: open every dashboard and chart, explore the datasets without saving, and run SELECT
# in SQL Lab on the marts' connection (its `database_access` is added per connection). No write on a dashboard,
# chart, dataset or database: Superset answers those with 403.
ANALYST_PERMISSIONS = (
    ("can_read", "Dashboard"), ("can_read", "Chart"), ("can_read", "Dataset"), ("can_dashboard", "Superset"),
    ("can_explore", "Superset"), ("can_slice", "Superset"), ("can_explore_json", "Superset"), ("can_read", "Explore"),
    ("can_read", "ExploreFormDataRestApi"), ("can_write", "ExploreFormDataRestApi"),
    ("can_read", "ExplorePermalinkRestApi"), ("can_read", "DashboardFilterStateRestApi"),
    ("can_write", "DashboardFilterStateRestApi"), ("can_read", "DashboardPermalinkRestApi"),
    ("can_read", "CurrentUserRestApi"), ("can_get", "Datasource"), ("can_external_metadata", "Datasource"),
    ("can_time_range", "Api"), ("can_read", "Theme"), ("can_read", "CssTemplate"), ("can_read", "AdvancedDataType"),
    ("can_get", "MenuApi"), ("menu_access", "Dashboards"), ("menu_access", "Charts"), ("menu_access", "Home"),
    ("can_get_drill_info", "Dataset"), ("can_recent_activity", "Log"), ("can_log", "Superset"),
    ("can_read", "SecurityRestApi"),
    # SQL Lab
    ("can_sqllab", "Superset"), ("can_execute_sql_query", "SQLLab"), ("can_read", "SQLLab"),
    ("can_get_results", "SQLLab"), ("can_format_sql", "SQLLab"), ("can_export_csv", "SQLLab"), ("can_read", "Query"),
    ("can_read", "Database"), ("can_sqllab_history", "Superset"), ("menu_access", "SQL Lab"),
    ("menu_access", "SQL Editor"), ("menu_access", "Query Search"), ("can_activate", "TabStateView"),
    ("can_get", "TabStateView"), ("can_post", "TabStateView"), ("can_put", "TabStateView"),
    ("can_delete", "TabStateView"), ("can_delete_query", "TabStateView"), ("can_migrate_query", "TabStateView"),
    ("can_post", "TableSchemaView"), ("can_expanded", "TableSchemaView"), ("can_delete", "TableSchemaView"),
    ("can_read", "SavedQuery"), ("can_write", "SavedQuery"), ("can_read", "SqlLabPermalinkRestApi"),
    ("can_write", "SqlLabPermalinkRestApi"),
)  # fmt: skip


@dataclass
class SyncReport:
    """What a sync did, per kind of object; `changed` is false when Superset already matched the files."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    dashboards: dict[str, str] = field(default_factory=dict)  # title -> URL
    skipped: dict[str, str] = field(default_factory=dict)  # title -> why the dashboard could not be synced yet

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        skipped = [f"skipped dashboard {title!r}: {why}" for title, why in self.skipped.items()]
        if not self.changed:
            return "; ".join(["Superset already matches the files: nothing created, updated or deleted", *skipped])
        parts = [
            f"{verb} " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            for verb, counts in (("created", self.created), ("updated", self.updated), ("deleted", self.deleted))
            if counts
        ]
        return "; ".join([*parts, *skipped])


@dataclass(frozen=True)
class Table:
    """What a dataset shows: a mart, or the mart's serving view (the mart's columns and metrics, plus the track each
    row comes from)."""

    model: Model
    view: str | None = None

    @property
    def name(self) -> str:
        return self.view or self.model.name

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.model.columns, SOURCE_COLUMN) if self.view else self.model.columns

    @property
    def cache_timeout(self) -> int | None:
        """A serving view's rows change every second: Superset never caches them (-1); marts use the default."""
        return -1 if self.view else None

    def describe(self, column: str) -> str | None:
        if self.view and column == SOURCE_COLUMN:
            return SOURCE_DESCRIPTION
        declared = self.model.spec.column(column)
        return declared.description if declared else None


def admin_client(settings: Settings) -> SupersetClient:
    return SupersetClient(settings.superset_url, ADMIN_USER, password(settings, ADMIN_USER))


def endpoint_uri(settings: Settings) -> str:
    """The SQL endpoint as Superset reaches it (PyHive; the endpoint reads with its own read-only identity)."""
    return f"hive://superset@127.0.0.1:{settings.spark_thrift_port}/{settings.marts_schema}"


def sync(settings: Settings, project: Project | None = None, dashboards_dir: Path = DASHBOARDS_DIR) -> SyncReport:
    """Make Superset match the files; safe to run any number of times."""
    project = project or load_project()
    dashboards = load_dashboards(project, dashboards_dir)
    client = admin_client(settings)
    report = SyncReport()
    database_id = _sync_database(client, settings, report)
    tables = [Table(model) for model in project.marts]
    tables += [Table(project.model(mart), view) for mart, view in SERVING_VIEWS.items()]
    synced = {table.name: _sync_dataset(client, database_id, table, settings, report) for table in tables}
    datasets = {name: dataset_id for name, dataset_id in synced.items() if dataset_id is not None}
    # One listing of each: the API cannot filter on certified_by, and a lookup per chart would list them again.
    charts = {c["slice_name"]: c for c in client.find("chart", ["id", "slice_name", "certified_by"])}
    boards = {d["slug"]: d for d in client.find("dashboard", ["id", "slug", "certified_by"])}
    for spec in dashboards:
        if missing := sorted({spec.table(chart.mart) for chart in spec.charts} - datasets.keys()):
            report.skipped[spec.title] = (
                f"the serving views {missing} are not registered yet; the speed track registers them when it starts "
                "(`sluice speed`), then sync again"
            )
            continue
        dashboard_id = _dashboard_id(client, spec, boards.get(spec.slug), report)
        chart_ids = [
            _sync_chart(client, chart, charts.get(chart.title), datasets, dashboard_id, spec, report)
            for chart in spec.charts
        ]
        _sync_dashboard(client, spec, dashboard_id, chart_ids, datasets, project, report)
        report.dashboards[spec.title] = f"{settings.superset_url}/superset/dashboard/{spec.slug}/"
    named = {chart.title for spec in dashboards for chart in spec.charts}
    for title, chart in charts.items():
        if chart["certified_by"] == MANAGED_BY and title not in named:
            client.delete(f"/api/v1/chart/{chart['id']}")
            report.deleted["chart"] += 1
    for slug, board in boards.items():
        if board["certified_by"] == MANAGED_BY and slug not in {spec.slug for spec in dashboards}:
            client.delete(f"/api/v1/dashboard/{board['id']}")
            report.deleted["dashboard"] += 1
    _sync_analyst(client, settings, database_id, report)
    return report


def where_to_look(settings: Settings, report: SyncReport) -> list[str]:
    """The dashboards' addresses and how analysts and the admin sign in, for the CLI and the demo to print."""
    lines = [f"  {title:<20} {url}" for title, url in report.dashboards.items()]
    lines.append(f"  analysts   {login_hint(settings, ANALYST_USER)}: view dashboards, explore, SELECT in SQL Lab")
    lines.append(f"  admin      {login_hint(settings, ADMIN_USER)}")
    return lines


def refresh(settings: Settings, marts: list[str], project: Project | None = None) -> list[str]:
    """After a publish: bring these marts' datasets up to date (columns, descriptions) and drop the cached results of
    every chart on them. Marts Superset has no dataset for (never synced in this schema) are left alone; returns the
    marts refreshed."""
    project = project or load_project()
    client = admin_client(settings)
    database_id = find_database(client)
    if database_id is None:
        return []
    found = {name: _find_dataset(client, database_id, name, settings.marts_schema) for name in marts}
    refreshed = {name: dataset_id for name, dataset_id in found.items() if dataset_id is not None}
    for name, dataset_id in refreshed.items():
        _update_dataset(client, dataset_id, Table(project.model(name)))
    if refreshed:
        client.post("/api/v1/cachekey/invalidate", {"datasource_uids": [f"{i}__table" for i in refreshed.values()]})
    return list(refreshed)


def find_database(client: SupersetClient) -> int | None:
    """The id of the marts' connection, if a sync made it."""
    found = client.find("database", ["id"], database_name=DATABASE_NAME)
    return int(found[0]["id"]) if found else None


# --- the connection ---------------------------------------------------------------------------------------------


def _sync_database(client: SupersetClient, settings: Settings, report: SyncReport) -> int:
    desired: dict[str, Any] = {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": endpoint_uri(settings),
        "expose_in_sqllab": True,
        "allow_dml": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_file_upload": False,
        "allow_run_async": False,  # async SQL Lab needs Celery workers and a results backend; queries here take seconds
    }
    database_id = find_database(client)
    if database_id is None:
        report.created["database"] += 1
        return int(client.post("/api/v1/database/", desired)["id"])
    current = client.get(f"/api/v1/database/{database_id}/connection")["result"]  # the one view with the URI
    if any(current.get(key) != value for key, value in desired.items()):
        client.put(f"/api/v1/database/{database_id}", desired)
        report.updated["database"] += 1
    return database_id


# --- datasets -----------------------------------------------------------------------------------------------------


def _sync_dataset(
    client: SupersetClient, database_id: int, table: Table, settings: Settings, report: SyncReport
) -> int | None:
    """The table's dataset id; None for a serving view the speed track has not registered in this schema yet."""
    dataset_id = _find_dataset(client, database_id, table.name, settings.marts_schema)
    if dataset_id is None:
        payload = {"database": database_id, "schema": settings.marts_schema, "table_name": table.name}
        try:
            dataset_id = int(client.post("/api/v1/dataset/", payload)["id"])
        except SupersetError as err:
            if table.view and err.status == 422 and "could not be found" in str(err):
                return None
            raise
        report.created["dataset"] += 1
        _update_dataset(client, dataset_id, table)
    elif _update_dataset(client, dataset_id, table):
        report.updated["dataset"] += 1
    return dataset_id


def _update_dataset(client: SupersetClient, dataset_id: int, table: Table) -> bool:
    """Columns, descriptions and metrics from the mart's YAML; True if anything had to change."""
    current = client.get(f"/api/v1/dataset/{dataset_id}")["result"]
    changed = False
    # Superset does not notice a mart's new or dropped columns by itself (apache/superset#24189): refresh from the
    # endpoint whenever the YAML's columns differ from the dataset's.
    if {c["column_name"] for c in current["columns"]} != set(table.columns):
        client.put(f"/api/v1/dataset/{dataset_id}/refresh", {})
        current = client.get(f"/api/v1/dataset/{dataset_id}")["result"]
        changed = True
    desired = _dataset_payload(table, current)
    if _dataset_differs(current, desired):
        client.put(f"/api/v1/dataset/{dataset_id}", desired)
        changed = True
    return changed


def _find_dataset(client: SupersetClient, database_id: int, table: str, schema: str) -> int | None:
    found = client.find("dataset", ["id", "database.id"], table_name=table, schema=schema)
    return next((int(d["id"]) for d in found if d["database"]["id"] == database_id), None)


def _dataset_payload(table: Table, current: dict[str, Any]) -> dict[str, Any]:
    """Descriptions, the time column and the metrics from the YAML; every existing column and metric is sent with
    its id (Superset deletes what a PUT leaves out and refuses a second row of the same name)."""
    spec = table.model.spec
    columns = []
    for column in current["columns"]:
        columns.append(
            {
                "id": column["id"],
                "column_name": column["column_name"],
                "description": table.describe(column["column_name"]) or column["description"],
                "is_dttm": column["column_name"] == TIME_COLUMN,
            }
        )
    metric_ids = {m["metric_name"]: m["id"] for m in current["metrics"]}
    metrics = []
    for metric in spec.metrics:
        item: dict[str, Any] = {
            "metric_name": metric.name,
            "verbose_name": metric.label,
            "expression": metric.expression,
            "description": metric.description,
            "d3format": metric.format,
        }
        if metric.name in metric_ids:
            item["id"] = metric_ids[metric.name]
        metrics.append(item)
    description = f"{spec.description.strip()}\n\nGrain: {spec.grain}. Owner: {spec.owner}."
    if table.view:
        description += (
            f" Live: days the batch track has published come from {table.model.name}, the hours after them from "
            f"the speed track, seconds after their events (column {SOURCE_COLUMN})."
        )
    return {"description": description, "main_dttm_col": TIME_COLUMN, "columns": columns, "metrics": metrics,
            "cache_timeout": table.cache_timeout}  # fmt: skip


def _dataset_differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    if any(current.get(key) != desired[key] for key in ("description", "main_dttm_col", "cache_timeout")):
        return True
    have_columns = {c["column_name"]: (c["description"], c["is_dttm"]) for c in current["columns"]}
    want_columns = {c["column_name"]: (c["description"], c["is_dttm"]) for c in desired["columns"]}
    keys = ("metric_name", "verbose_name", "expression", "description", "d3format")
    have_metrics = sorted(tuple(m.get(k) for k in keys) for m in current["metrics"])
    want_metrics = sorted(tuple(m.get(k) for k in keys) for m in desired["metrics"])
    return have_columns != want_columns or have_metrics != want_metrics


# --- charts -------------------------------------------------------------------------------------------------------


def _sync_chart(
    client: SupersetClient,
    chart: Chart,
    existing: dict[str, Any] | None,
    datasets: dict[str, int],
    dashboard_id: int,
    spec: DashboardSpec,
    report: SyncReport,
) -> int:
    dataset_id = datasets[spec.table(chart.mart)]
    params = chart_params(chart, dataset_id, spec.time_range)
    desired = {
        "slice_name": chart.title,
        "viz_type": params["viz_type"],
        "datasource_id": dataset_id,
        "datasource_type": "table",
        "params": json.dumps(params, sort_keys=True),
        "query_context": json.dumps(chart_query_context(chart, dataset_id, params), sort_keys=True),
        "description": chart.description or None,
        "certified_by": MANAGED_BY,
        "certification_details": f"Defined in superset/dashboards/; metrics in marts/marts/{chart.mart}.yml",
        "dashboards": [dashboard_id],
    }
    if existing is None:
        report.created["chart"] += 1
        return int(client.post("/api/v1/chart/", desired)["id"])
    chart_id = int(existing["id"])
    current = client.get(f"/api/v1/chart/{chart_id}")["result"]
    current_dashboards = [d["id"] for d in current.get("dashboards", [])]
    same = (
        all(current.get(k) == desired[k] for k in ("slice_name", "viz_type", "description", "certified_by",
                                                   "certification_details"))
        and _json_equal(current.get("params"), desired["params"])
        and _json_equal(current.get("query_context"), desired["query_context"])
        and current_dashboards == [dashboard_id]
    )  # fmt: skip
    if not same:
        client.put(f"/api/v1/chart/{chart_id}", desired)
        report.updated["chart"] += 1
    return chart_id


def _json_equal(stored: str | None, desired: str) -> bool:
    return stored is not None and json.loads(stored) == json.loads(desired)


# --- dashboards ---------------------------------------------------------------------------------------------------


def _dashboard_id(
    client: SupersetClient, spec: DashboardSpec, existing: dict[str, Any] | None, report: SyncReport
) -> int:
    if existing is not None:
        return int(existing["id"])
    report.created["dashboard"] += 1
    created = client.post("/api/v1/dashboard/", {"dashboard_title": spec.title, "slug": spec.slug, "published": True})
    return int(created["id"])


def _sync_dashboard(
    client: SupersetClient,
    spec: DashboardSpec,
    dashboard_id: int,
    chart_ids: list[int],
    datasets: dict[str, int],
    project: Project,
    report: SyncReport,
) -> None:
    layout = dashboard_layout(spec, chart_ids)
    metadata = dashboard_metadata(spec, chart_ids, datasets, project, layout)
    # Superset rewrites the layout it stores (it adds chart uuids), so the sync compares a digest of what it sent.
    digest = hashlib.sha256(json.dumps([spec.title, metadata], sort_keys=True).encode()).hexdigest()[:16]
    details = f"Defined in superset/dashboards/ (sync {digest})"
    current = client.get(f"/api/v1/dashboard/{dashboard_id}")["result"]
    if current.get("certification_details") == details and current.get("dashboard_title") == spec.title:
        return
    client.put(
        f"/api/v1/dashboard/{dashboard_id}",
        {
            "dashboard_title": spec.title,
            "slug": spec.slug,
            "published": True,
            "position_json": json.dumps(layout),
            "json_metadata": json.dumps(metadata),
            "certified_by": MANAGED_BY,
            "certification_details": details,
        },
    )
    if current.get("certified_by") == MANAGED_BY:  # a dashboard created in this run is counted once, as created
        report.updated["dashboard"] += 1


# --- the analyst role and user ------------------------------------------------------------------------------------


def _sync_analyst(client: SupersetClient, settings: Settings, database_id: int, report: SyncReport) -> None:
    roles = client.find("security/roles", name=ANALYST_ROLE)
    if roles:
        role_id = int(roles[0]["id"])
    else:
        role_id = int(client.post("/api/v1/security/roles/", {"name": ANALYST_ROLE})["id"])
        report.created["role"] += 1
    wanted = {*ANALYST_PERMISSIONS, ("database_access", f"[{DATABASE_NAME}].(id:{database_id})")}
    pairs = _permission_ids(client)
    if missing := wanted - pairs.keys():
        raise RuntimeError(f"Superset has no permissions {sorted(missing)}; run `superset init` (`sluice up` does)")
    have = {(p["permission_name"], p["view_menu_name"])
            for p in client.get(f"/api/v1/security/roles/{role_id}/permissions/")["result"]}  # fmt: skip
    if have != wanted:
        ids = sorted(pairs[pair] for pair in wanted)
        client.post(f"/api/v1/security/roles/{role_id}/permissions", {"permission_view_menu_ids": ids})
        if roles:
            report.updated["role"] += 1
    user = {
        "first_name": "Sluice",
        "last_name": "Analyst",
        "username": ANALYST_USER,
        "email": "analyst@sluice.local",
        "active": True,
        "roles": [role_id],
    }
    users = client.find("security/users", username=ANALYST_USER)
    if not users:
        client.post("/api/v1/security/users/", user | {"password": password(settings, ANALYST_USER)})
        report.created["user"] += 1
        return
    current = client.get(f"/api/v1/security/users/{users[0]['id']}")["result"]
    if [r["id"] for r in current.get("roles", [])] != [role_id] or not current.get("active"):
        client.put(f"/api/v1/security/users/{users[0]['id']}", {"roles": [role_id], "active": True})
        report.updated["user"] += 1


def _permission_ids(client: SupersetClient) -> dict[tuple[str, str], int]:
    return {
        (p["permission"]["name"], p["view_menu"]["name"]): int(p["id"])
        for p in client.find("security/permissions-resources")
    }
