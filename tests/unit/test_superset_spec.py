"""Dashboard files and mart metrics are checked when they load; the REST client's query encoding; Superset's
secrets outside the local profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sluice.marts.project import ProjectError, load_project
from sluice.serving.dashboards import DashboardSpecError, load_dashboards
from sluice.serving.superset_api import rison
from sluice.settings import REPO_ROOT, MissingSettingError, load_settings

GOOD_CHART = {"title": "GMV", "kind": "big_number", "mart": "mart_gmv_daily", "metrics": ["gmv"], "width": 6}


def _dashboards(tmp_path: Path, *rows: list[dict[str, object]], filters: list[object] | None = None) -> Path:
    spec = {"title": "T", "slug": "t", "description": "d", "filters": filters or [], "rows": list(rows)}
    (tmp_path / "t.yml").write_text(yaml.safe_dump(spec))
    return tmp_path


def test_the_repositorys_dashboards_load_and_name_each_chart_once() -> None:
    dashboards = load_dashboards(load_project())
    assert {d.slug for d in dashboards} == {"marketplace-health", "supply", "trust-and-safety", "today"}
    titles = [chart.title for d in dashboards for chart in d.charts]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize(
    ("chart", "message"),
    [
        (GOOD_CHART | {"metrics": ["revenue"]}, r"uses metrics \['revenue'\]; define them in mart_gmv_daily.yml"),
        (GOOD_CHART | {"mart": "fct_transactions"}, "which is not a mart under marts/marts/"),
        (GOOD_CHART | {"kind": "bar", "by": ["colour"]}, r"groups by \['colour'\], which mart_gmv_daily does not"),
        (GOOD_CHART | {"metrics": ["gmv", "transactions"]}, "a big number shows one metric"),
    ],
)
def test_a_chart_naming_what_the_mart_lacks_is_refused_with_the_file(
    tmp_path: Path, chart: dict[str, object], message: str
) -> None:
    folder = _dashboards(tmp_path, [chart])
    with pytest.raises(DashboardSpecError, match=message) as refused:
        load_dashboards(load_project(), folder)
    assert str(folder / "t.yml") in str(refused.value)


def test_a_dashboard_on_serving_views_reads_only_marts_that_have_one(tmp_path: Path) -> None:
    spec = {"title": "T", "slug": "t", "description": "d", "reads": "serving_views", "rows": [[GOOD_CHART]]}
    (tmp_path / "t.yml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DashboardSpecError, match="reads 'mart_gmv_daily', which has no serving view; marts with one"):
        load_dashboards(load_project(), tmp_path)


def test_a_chart_on_an_axis_the_mart_lacks_is_refused(tmp_path: Path) -> None:
    folder = _dashboards(tmp_path, [GOOD_CHART | {"kind": "line", "axis": "hr"}])
    with pytest.raises(DashboardSpecError, match=r"groups by \['hr'\], which mart_gmv_daily does not have"):
        load_dashboards(load_project(), folder)


def test_a_row_wider_than_the_grid_is_refused(tmp_path: Path) -> None:
    folder = _dashboards(tmp_path, [GOOD_CHART | {"width": 8}, GOOD_CHART | {"title": "again", "width": 8}])
    with pytest.raises(DashboardSpecError, match="wider than the grid's 12 columns"):
        load_dashboards(load_project(), folder)


def test_a_select_filter_needs_a_mart_with_its_column(tmp_path: Path) -> None:
    folder = _dashboards(tmp_path, [GOOD_CHART], filters=[{"column": "region_id", "label": "Region"}])
    with pytest.raises(DashboardSpecError, match="filter on 'region_id' needs `mart:`"):
        load_dashboards(load_project(), folder)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("sum(revenue)", r"names columns \['revenue'\] that the model does not have"),
        ("gmv * 2", "aggregates nothing"),
    ],
)
def test_a_metric_on_a_missing_column_or_without_an_aggregate_fails_the_project(
    tmp_path: Path, expression: str, message: str
) -> None:
    shutil.copytree(REPO_ROOT / "marts", tmp_path / "marts")
    path = tmp_path / "marts" / "marts" / "mart_gmv_daily.yml"
    spec = yaml.safe_load(path.read_text())
    spec["metrics"][0]["expression"] = expression
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    with pytest.raises(ProjectError, match=message):
        load_project(tmp_path / "marts")


def test_rison_quotes_strings_and_escapes_its_own_marks() -> None:
    query = {"filters": [{"col": "slice_name", "opr": "eq", "value": "Don't stop!"}], "page": 0, "on": True}
    assert rison(query) == "(filters:!((col:'slice_name',opr:'eq',value:'Don!'t stop!!')),page:0,on:!t)"


def test_outside_local_superset_has_no_generated_secrets(tmp_path: Path) -> None:
    from sluice.stack.superset import password, superset_env

    k8s = load_settings(
        profile="k8s",
        home=tmp_path,
        kafka_bootstrap="kafka:9092",
        s3_endpoint="https://s3.example",
        s3_access_key="a",
        s3_secret_key="b",
        postgres_password="c",
        superset_ui_url="https://superset.example",
    )
    with pytest.raises(MissingSettingError, match="SLUICE_SUPERSET_SECRET_KEY"):
        superset_env(k8s)
    with pytest.raises(MissingSettingError, match="SLUICE_SUPERSET_ANALYST_PASSWORD"):
        password(k8s, "analyst")
    assert list(tmp_path.iterdir()) == []  # nothing was generated


def test_a_filter_applies_only_to_the_charts_whose_mart_has_its_column() -> None:
    from sluice.serving.dashboards import DashboardSpec
    from sluice.serving.superset_objects import native_filters

    spec = DashboardSpec.model_validate(
        {
            "title": "T",
            "slug": "t",
            "description": "d",
            "filters": [
                {"column": "dt", "label": "Date"},
                {"column": "region_id", "label": "Region", "mart": "mart_gmv_daily"},
            ],
            "rows": [
                [
                    GOOD_CHART,
                    {"title": "Decisions", "kind": "big_number", "mart": "mart_moderation_daily",
                     "metrics": ["decisions"]},
                ]
            ],
        }
    )  # fmt: skip
    date_filter, region = native_filters(spec, [11, 12], {"mart_gmv_daily": 7}, load_project())
    assert (date_filter["chartsInScope"], date_filter["scope"]["excluded"]) == ([11, 12], [])
    assert (region["chartsInScope"], region["scope"]["excluded"]) == ([11], [12])
    assert region["targets"] == [{"datasetId": 7, "column": {"name": "region_id"}}]
