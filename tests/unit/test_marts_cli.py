"""`sluice marts list | graph | validate` on the repository's own models (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sluice.cli import app
from sluice.marts.project import load_project

runner = CliRunner()


def test_list_prints_every_model_in_build_order() -> None:
    result = runner.invoke(app, ["marts", "list"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[1] for line in result.output.splitlines()]
    assert listed == list(load_project().models)
    assert listed.index("stg_listings") < listed.index("dim_listings") < listed.index("mart_listing_supply")


def test_graph_prints_edges_and_renders_a_png(tmp_path: Path) -> None:
    image = tmp_path / "marts.png"
    result = runner.invoke(app, ["marts", "graph", "--output", str(image)])
    assert result.exit_code == 0, result.output
    edges = {line.split()[1]: line.split("<-")[1] for line in result.output.splitlines() if "<-" in line}
    assert "fct_transactions" in edges["mart_gmv_daily"]
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_as_dot_has_an_edge_per_dependency() -> None:
    result = runner.invoke(app, ["marts", "graph", "--dot"])
    assert result.exit_code == 0
    assert '"fct_transactions" -> "mart_gmv_daily";' in result.output
    assert '"raw_listings" -> "stg_listings";' in result.output


def test_validate_counts_models_and_tests() -> None:
    result = runner.invoke(app, ["marts", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: {len(load_project().models)} models from 6 sources")


def test_building_an_unknown_model_fails_before_spark_starts() -> None:
    result = runner.invoke(app, ["marts", "build", "mart_nope", "--date", "2026-11-01"])
    assert result.exit_code == 2
    assert "no model named 'mart_nope'" in result.output
