"""What Superset stores for a chart and a dashboard, built from the dashboard files (`sluice.serving.dashboards`):
pure functions from the spec to Superset's JSON, no API calls. `superset_sync` sends them.
"""

from __future__ import annotations

from typing import Any

from sluice.marts.project import Project
from sluice.serving.dashboards import TIME_COLUMN, Chart, DashboardSpec

_VIZ_TYPES = {
    "big_number": "big_number_total",
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
    "table": "table",
}
_DAILY = "P1D"  # the time grain of an axis of days


def chart_params(chart: Chart, dataset_id: int, time_range: str) -> dict[str, Any]:
    """The chart's form data, what Superset's front end builds its queries from. `time_range` is its dashboard's
    (a dashboard's date filter narrows it)."""
    days = {"expressionType": "SIMPLE", "subject": TIME_COLUMN, "operator": "TEMPORAL_RANGE",
            "comparator": time_range, "clause": "WHERE"}  # fmt: skip
    params: dict[str, Any] = {
        "datasource": f"{dataset_id}__table",
        "viz_type": _VIZ_TYPES[chart.kind],
        "adhoc_filters": [days],
    }
    if chart.kind == "big_number":
        return params | {"metric": chart.metrics[0], "header_font_size": 0.4, "subheader_font_size": 0.15,
                         "y_axis_format": "SMART_NUMBER", "time_format": "smart_date"}  # fmt: skip
    if chart.kind == "table":
        return params | {"query_mode": "aggregate", "groupby": list(chart.by), "metrics": list(chart.metrics),
                         "all_columns": [], "percent_metrics": [], "timeseries_limit_metric": chart.metrics[0],
                         "order_desc": True, "row_limit": chart.limit, "server_page_length": 25,
                         "table_timestamp_format": "smart_date", "show_cell_bars": True}  # fmt: skip
    series = {"x_axis": chart.axis, "metrics": list(chart.metrics),
              "groupby": list(chart.by), "row_limit": 10000, "order_desc": True, "truncate_metric": True,
              "show_legend": True,
              "legendType": "scroll", "legendOrientation": "top", "rich_tooltip": True,
              "x_axis_time_format": "smart_date", "y_axis_format": "SMART_NUMBER", "color_scheme": "supersetColors",
              "comparison_type": "values", "only_total": True, "y_axis_bounds": [None, None]}  # fmt: skip
    if chart.axis == TIME_COLUMN:
        series["time_grain_sqla"] = _DAILY
    else:
        series["xAxisForceCategorical"] = True  # hours are 0, 1, 2, ..., not a scale with 0.5 between them
    if chart.kind == "bar":
        series |= {"orientation": "vertical", "stack": "Stack" if chart.by or len(chart.metrics) > 1 else None}
    else:
        series |= {"seriesType": "line", "markerEnabled": True, "markerSize": 6}
    return params | series


def chart_query_context(chart: Chart, dataset_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """The query the chart data API (`GET /api/v1/chart/<id>/data/`) runs: long-format rows, one per group."""
    columns: list[Any] = list(chart.by)
    if chart.kind in ("line", "bar"):
        axis = {"columnType": "BASE_AXIS", "sqlExpression": chart.axis, "label": chart.axis, "expressionType": "SQL"}
        if chart.axis == TIME_COLUMN:
            axis["timeGrain"] = _DAILY
        columns = [axis, *columns]
    query = {
        "filters": [{"col": TIME_COLUMN, "op": "TEMPORAL_RANGE", "val": params["adhoc_filters"][0]["comparator"]}],
        "extras": {"having": "", "where": ""},
        "columns": columns,
        "metrics": list(chart.metrics),
        "orderby": [[chart.metrics[0], False]],
        "row_limit": chart.limit if chart.kind == "table" else 10000,
        "order_desc": True,
    }
    return {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }


def dashboard_layout(spec: DashboardSpec, chart_ids: list[int]) -> dict[str, Any]:
    """Superset's grid: the file's description on top, then its rows of charts; 50 grid units is a chart's usual
    height."""
    about = {"type": "MARKDOWN", "id": "MARKDOWN-about", "children": [], "parents": ["ROOT_ID", "GRID_ID", "ROW-about"],
             "meta": {"width": 12, "height": 12, "code": spec.description.strip()}}  # fmt: skip
    layout: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-about"], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": spec.title}},
        "ROW-about": {"type": "ROW", "id": "ROW-about", "children": ["MARKDOWN-about"],
                      "parents": ["ROOT_ID", "GRID_ID"], "meta": {"background": "BACKGROUND_TRANSPARENT"}},
        "MARKDOWN-about": about,
    }  # fmt: skip
    ids = iter(chart_ids)
    for r, row in enumerate(spec.rows):
        row_id = f"ROW-{r}"
        layout["GRID_ID"]["children"].append(row_id)
        layout[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                          "meta": {"background": "BACKGROUND_TRANSPARENT"}}  # fmt: skip
        for chart in row:
            chart_id = next(ids)
            key = f"CHART-{chart_id}"
            layout[row_id]["children"].append(key)
            height = 30 if chart.kind == "big_number" else 60 if chart.kind == "table" and chart.width == 12 else 50
            layout[key] = {"type": "CHART", "id": key, "children": [], "parents": ["ROOT_ID", "GRID_ID", row_id],
                           "meta": {"chartId": chart_id, "width": chart.width, "height": height}}  # fmt: skip
    return layout


def native_filters(
    spec: DashboardSpec, chart_ids: list[int], datasets: dict[str, int], project: Project
) -> list[dict[str, Any]]:
    """The date, region and category filters; each scoped to the charts whose mart has its column."""
    filters = []
    for filter_ in spec.filters:
        applies = [cid for cid, chart in zip(chart_ids, spec.charts, strict=True)
                   if filter_.column in project.columns_of(chart.mart)]  # fmt: skip
        excluded = [cid for cid in chart_ids if cid not in applies]
        common: dict[str, Any] = {
            "id": f"NATIVE_FILTER-{filter_.column}",
            "name": filter_.label,
            "type": "NATIVE_FILTER",
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
            "chartsInScope": applies,
            "tabsInScope": [],
            "description": "",
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        }
        if filter_.column == TIME_COLUMN:
            filters.append(common | {"filterType": "filter_time", "targets": [{}], "controlValues": {}})
        else:
            assert filter_.mart is not None  # checked when the file was loaded
            target = {"datasetId": datasets[spec.table(filter_.mart)], "column": {"name": filter_.column}}
            controls = {"multiSelect": True, "enableEmptyFilter": False, "defaultToFirstItem": False,
                        "inverseSelection": False, "searchAllOptions": False}  # fmt: skip
            filters.append(common | {"filterType": "filter_select", "targets": [target], "controlValues": controls})
    return filters


def dashboard_metadata(
    spec: DashboardSpec, chart_ids: list[int], datasets: dict[str, int], project: Project, layout: dict[str, Any]
) -> dict[str, Any]:
    """The dashboard's json_metadata: its filters, and the layout again under `positions`, which is what links the
    charts to the dashboard."""
    return {
        "native_filter_configuration": native_filters(spec, chart_ids, datasets, project),
        "color_scheme": "supersetColors",
        "refresh_frequency": spec.refresh_seconds,
        "cross_filters_enabled": True,
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "label_colors": {},
        "shared_label_colors": [],
        "color_scheme_domain": [],
        "positions": layout,
    }
