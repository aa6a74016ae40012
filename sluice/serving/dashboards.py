"""What a dashboard file in superset/dashboards/ may say, as pydantic types, checked against the marts it names.

A chart names a mart and the mart's metrics (defined once in the mart's YAML); the sync turns it into Superset's
form data. Layout is rows of charts on Superset's 12-column grid. A dashboard that `reads: serving_views` shows each
chart's mart through its serving view instead (`sluice/serving/speed_views.py`): published days from the mart, the
hours after them from the speed track, seconds old.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sluice.marts.project import Project
from sluice.settings import REPO_ROOT
from sluice.speed import FAMILIES

DASHBOARDS_DIR = REPO_ROOT / "superset" / "dashboards"
TIME_COLUMN = "dt"  # every mart's partition column: the dashboards' date filter and the charts' time axis


class DashboardSpecError(ValueError):
    """A dashboard file names something that does not exist; the message names the file and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Chart(_Strict):
    title: str = Field(min_length=1)
    kind: Literal["big_number", "line", "bar", "table"]
    mart: str
    metrics: tuple[str, ...] = Field(min_length=1)  # names of the mart's metrics
    by: tuple[str, ...] = ()  # group-by columns: the series of a line or bar, the rows of a table
    axis: str = TIME_COLUMN  # the x axis of a line or bar: days, or another column such as the hour `hr`
    width: int = Field(default=6, ge=1, le=12)
    limit: int = Field(default=1000, ge=1)  # rows of a table, ordered by the first metric, largest first
    description: str = ""


class Filter(_Strict):
    column: str
    label: str
    mart: str | None = None  # where a select filter's values come from; the date filter needs none


class DashboardSpec(_Strict):
    title: str = Field(min_length=1)
    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    description: str = Field(min_length=1)
    filters: tuple[Filter, ...] = ()
    rows: tuple[tuple[Chart, ...], ...] = Field(min_length=1)
    reads: Literal["marts", "serving_views"] = "marts"
    time_range: str = "No filter"  # the charts' days, in Superset's words: "Current day", "Last week", ...
    refresh_seconds: int = Field(default=0, ge=0)  # how often an open dashboard re-queries; 0: never

    @property
    def charts(self) -> tuple[Chart, ...]:
        return tuple(chart for row in self.rows for chart in row)

    def table(self, mart: str) -> str:
        """The table a chart or filter on this mart reads: the mart, or its serving view."""
        return SERVING_VIEWS[mart] if self.reads == "serving_views" else mart


SERVING_VIEWS = {family.mart: family.view for family in FAMILIES}  # mart -> the serving view that shows it live


def load_dashboards(project: Project, folder: Path = DASHBOARDS_DIR) -> list[DashboardSpec]:
    """Every dashboard file, checked against the marts; chart titles are unique across them (they name charts)."""
    dashboards: list[DashboardSpec] = []
    titles: set[str] = set()
    for path in sorted(folder.glob("*.yml")):
        try:
            spec = DashboardSpec.model_validate(yaml.safe_load(path.read_text()))
        except (yaml.YAMLError, pydantic.ValidationError) as err:
            raise DashboardSpecError(f"{path}: {err}") from None
        _check(path, spec, project)
        if repeated := titles & {chart.title for chart in spec.charts}:
            raise DashboardSpecError(f"{path}: chart titles {sorted(repeated)} are used by another dashboard too")
        titles |= {chart.title for chart in spec.charts}
        dashboards.append(spec)
    return dashboards


def _check(path: Path, spec: DashboardSpec, project: Project) -> None:
    for row in spec.rows:
        if sum(chart.width for chart in row) > 12:
            raise DashboardSpecError(f"{path}: a row's charts are wider than the grid's 12 columns: {row}")
    for chart in spec.charts:
        _check_chart(f"{path}: chart {chart.title!r}", chart, project)
        if spec.reads == "serving_views":
            _check_serving(f"{path}: chart {chart.title!r}", chart.mart)
    for filter_ in spec.filters:
        if filter_.column == TIME_COLUMN:
            continue
        if filter_.mart is None or filter_.column not in project.columns_of(filter_.mart):
            raise DashboardSpecError(
                f"{path}: filter on {filter_.column!r} needs `mart:`, a mart with that column to take values from"
            )
        if spec.reads == "serving_views":
            _check_serving(f"{path}: filter on {filter_.column!r}", filter_.mart)


def _check_serving(where: str, mart: str) -> None:
    if mart not in SERVING_VIEWS:
        raise DashboardSpecError(
            f"{where} reads {mart!r}, which has no serving view; marts with one: {sorted(SERVING_VIEWS)}"
        )


def _check_chart(where: str, chart: Chart, project: Project) -> None:
    if chart.mart not in {model.name for model in project.marts}:
        raise DashboardSpecError(f"{where} reads {chart.mart!r}, which is not a mart under marts/marts/")
    model = project.models[chart.mart]
    if unknown := set(chart.metrics) - {m.name for m in model.spec.metrics}:
        raise DashboardSpecError(f"{where} uses metrics {sorted(unknown)}; define them in {chart.mart}.yml")
    if unknown := {*chart.by, chart.axis} - set(model.columns):
        raise DashboardSpecError(f"{where} groups by {sorted(unknown)}, which {chart.mart} does not have")
    if chart.kind == "big_number" and (len(chart.metrics) != 1 or chart.by):
        raise DashboardSpecError(f"{where}: a big number shows one metric and groups by nothing")
