"""Loading a model project: dependencies inferred from SQL, and every mistake caught before Spark starts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sluice.marts.project import ProjectError, load_project

SOURCES = "sources:\n  raw_things: {topic: demo.things, description: things as received}\n"


def _model(root: Path, layer: str, name: str, sql: str, extra: str = "") -> None:
    folder = root / layer
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(sql)
    cols = "  - {name: n, type: bigint, description: n}\n  - {name: dt, type: date, description: dt}\n"
    (folder / f"{name}.yml").write_text(f"description: {name}\ngrain: one row\nowner: tests\ncolumns:\n{cols}{extra}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "sources.yml").write_text(SOURCES)
    _model(tmp_path, "staging", "stg_things", "select count(*) as n, dt from raw_things where dt = :ds group by dt")
    return tmp_path


def test_diamond_is_ordered_with_each_model_after_all_it_reads(root: Path) -> None:
    _model(root, "core", "left_side", "select n, dt from stg_things where dt = :ds")
    _model(root, "core", "right_side", "with s as (select n, dt from stg_things where dt = :ds) select n, dt from s")
    _model(root, "marts", "mart_both", "select l.n, l.dt from left_side as l join right_side as r on l.dt = r.dt "
                                       "where l.dt = :ds and r.dt = :ds")  # fmt: skip
    project = load_project(root)
    assert list(project.models) == ["stg_things", "left_side", "right_side", "mart_both"]
    assert project.models["mart_both"].upstream == {"left_side", "right_side"}
    assert project.models["right_side"].upstream == {"stg_things"}  # the CTE `s` is not a table
    assert project.models["stg_things"].upstream == {"raw_things"}
    assert project.select(["left_side"], upstream=True) == ["stg_things", "left_side"]
    assert project.select(["left_side"], downstream=True) == ["left_side", "mart_both"]
    assert project.select(["stg_things"], downstream=True) == ["stg_things", "left_side", "right_side", "mart_both"]


def test_a_cycle_is_named_in_order(root: Path) -> None:
    _model(root, "core", "a", "select n, dt from c where dt = :ds")
    _model(root, "core", "b", "select n, dt from a where dt = :ds")
    _model(root, "core", "c", "select n, dt from b where dt = :ds")
    with pytest.raises(ProjectError, match=r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
        load_project(root)


def test_reading_its_own_past_is_not_a_cycle(root: Path) -> None:
    _model(root, "core", "snapshot", "select n, dt from snapshot where dt = date_sub(:ds, 1) "
                                     "union all select n, dt from stg_things where dt = :ds")  # fmt: skip
    model = load_project(root).models["snapshot"]
    assert model.reads_own_past
    assert model.upstream == {"stg_things"}


def test_an_unknown_table_names_the_file_and_the_table(root: Path) -> None:
    _model(root, "marts", "mart_x", "select n, dt from stg_thingz where dt = :ds")
    with pytest.raises(ProjectError, match=r"mart_x\.sql reads \['stg_thingz'\], which are neither models"):
        load_project(root)


def test_a_test_on_a_missing_column_is_an_error(root: Path) -> None:
    _model(root, "core", "fct", "select n, dt from stg_things where dt = :ds",
           extra="tests:\n  - unique_combination: {columns: [n, m]}\n")  # fmt: skip
    with pytest.raises(ProjectError, match=r"fct\.yml: test unique_combination names columns \['m'\]"):
        load_project(root)


def test_a_relationship_to_a_missing_column_is_an_error(root: Path) -> None:
    _model(root, "core", "fct", "select n, dt from stg_things where dt = :ds")
    (root / "core" / "fct.yml").write_text(
        "description: d\ngrain: g\nowner: o\ncolumns:\n"
        "  - {name: n, type: bigint, description: n, tests: [{relationships: {to: stg_things, field: id}}]}\n"
        "  - {name: dt, type: date, description: dt}\n"
    )
    with pytest.raises(ProjectError, match=r"relates to stg_things\.id, which does not exist"):
        load_project(root)


def test_a_relationship_target_is_an_upstream(root: Path) -> None:
    _model(root, "core", "other", "select n, dt from stg_things where dt = :ds")
    _model(root, "core", "fct", "select n, dt from other where dt = :ds")
    (root / "core" / "fct.yml").write_text(
        "description: d\ngrain: g\nowner: o\ncolumns:\n"
        "  - {name: n, type: bigint, description: n, tests: [{relationships: {to: stg_things, field: n}}]}\n"
        "  - {name: dt, type: date, description: dt}\n"
    )
    assert load_project(root).models["fct"].upstream == {"other", "stg_things"}


def test_output_columns_must_match_the_yaml(root: Path) -> None:
    _model(root, "core", "fct", "select dt, n from stg_things where dt = :ds")
    with pytest.raises(ProjectError, match=r"selects \['dt', 'n'\] but fct\.yml declares \['n', 'dt'\]"):
        load_project(root)


def test_a_model_must_use_its_partition_placeholder(root: Path) -> None:
    _model(root, "core", "fct", "select n, dt from stg_things")
    with pytest.raises(ProjectError, match=r"reads its partition date as :ds"):
        load_project(root)


def test_yaml_errors_name_the_file(root: Path) -> None:
    _model(root, "core", "fct", "select n, dt from stg_things where dt = :ds",
           extra="tests:\n  - row_count: {min: -1}\n")  # fmt: skip
    with pytest.raises(ProjectError, match=r"(?s)fct\.yml: .*row_count"):
        load_project(root)


def test_render_puts_the_date_in_for_spark_and_duckdb(root: Path) -> None:
    _model(root, "core", "fct", "select n, dt from stg_things where dt between date_sub(:ds, 6) and :ds")
    model = load_project(root).models["fct"]
    assert "CAST('2026-11-20' AS DATE)" in model.render(date(2026, 11, 20))
    duck = model.render(date(2026, 11, 20), "duckdb")
    assert "INTERVAL" in duck
    assert ":ds" not in duck


def test_source_columns_are_the_raw_zone_files_columns_plus_partitions() -> None:
    from sluice.lake import raw_schema
    from sluice.marts.project import SOURCE_COLUMNS

    assert (*raw_schema().names, "dt", "hr") == SOURCE_COLUMNS


def _external(root: Path, name: str, extra: str) -> None:
    cols = "  - {name: n, type: bigint, description: n}\n  - {name: dt, type: date, description: dt}\n"
    (root / "marts").mkdir(exist_ok=True)
    (root / "marts" / f"{name}.yml").write_text(f"description: x\ngrain: one row\nowner: t\n{extra}columns:\n{cols}")


def test_a_table_another_system_writes_can_be_read_but_is_not_built(root: Path) -> None:
    _external(root, "ext_scores", "written_by: a nightly job\n")
    _model(root, "marts", "mart_x", "select count(*) as n, :ds as dt from ext_scores where dt = :ds")
    project = load_project(root)
    assert "ext_scores" not in project.models
    assert project.externals["ext_scores"].columns == ("n", "dt")
    assert project.models["mart_x"].upstream == {"ext_scores"}
    assert project.columns_of("ext_scores") == ("n", "dt")


def test_a_yaml_without_sql_must_name_its_writer(root: Path) -> None:
    _external(root, "ext_scores", "")
    with pytest.raises(ProjectError, match=r"ext_scores.yml has no SQL beside it; add ext_scores.sql, or name"):
        load_project(root)


def test_a_table_written_elsewhere_has_no_tests_here(root: Path) -> None:
    _external(root, "ext_scores", "written_by: a nightly job\ntests: [{row_count: {min: 1}}]\n")
    with pytest.raises(ProjectError, match="is checked by its writer; remove its tests"):
        load_project(root)
