"""`sluice marts ...`: list, graph, validate and build the models in marts/."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from sluice.marts.project import Project, ProjectError, load_project

app = typer.Typer(help="The batch track's models: list, graph, validate, build.", no_args_is_help=True)


def _project() -> Project:
    try:
        return load_project()
    except ProjectError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_models() -> None:
    """Every model in build order, with its layer, grain and owner."""
    project = _project()
    width = max(len(name) for name in project.models)
    for model in project.models.values():
        typer.echo(f"{model.layer:<8} {model.name:<{width}}  {model.spec.owner:<22} {model.spec.grain}")


@app.command()
def graph(
    output: Annotated[
        Path | None, typer.Option(help="Also render an image here; the suffix picks the format (.png, .svg).")
    ] = None,
    dot: Annotated[bool, typer.Option(help="Print Graphviz DOT instead of text.")] = False,
) -> None:
    """The dependency graph parsed from the SQL: as text, as DOT, or as an image."""
    from sluice.marts import graph as render

    project = _project()
    typer.echo(render.as_dot(project) if dot else render.as_text(project))
    if output is not None:
        typer.echo(f"wrote {render.write_image(project, output)}", err=True)


@app.command()
def validate() -> None:
    """Check the project: YAML, SQL, references, cycles and tests, without starting Spark."""
    project = _project()
    tests = sum(len(c.tests) for m in project.models.values() for c in m.spec.columns)
    tests += sum(len(m.spec.tests) for m in project.models.values())
    units = sum(len(m.spec.unit_tests) for m in project.models.values())
    typer.echo(f"ok: {len(project.models)} models from {len(project.sources)} sources, {tests} quality tests, "
               f"{units} unit tests")  # fmt: skip


@app.command()
def build(
    models: Annotated[list[str], typer.Argument(help="Models to build; `all` for every model.")],
    ds: Annotated[str, typer.Option("--date", help="The partition date (UTC), YYYY-MM-DD.")],
    until: Annotated[str | None, typer.Option(help="Build every date from --date to this one, in order.")] = None,
    with_upstream: Annotated[bool, typer.Option(help="Also build everything the models read.")] = False,
    with_downstream: Annotated[bool, typer.Option(help="Also build everything that reads the models.")] = False,
    allow_incomplete: Annotated[
        bool, typer.Option(help="Build even if raw hours of the date lack completeness markers (a preview).")
    ] = False,
) -> None:
    """Build models for a date in dependency order; each partition is published only if its gate passes."""
    from sluice.marts.build import Builder, GateFailed, IncompleteInput, dates
    from sluice.settings import load_settings
    from sluice.spark import spark_session

    project = _project()
    names = list(project.models) if models == ["all"] else models
    try:
        chosen = project.select(names, upstream=with_upstream, downstream=with_downstream)
        first = date.fromisoformat(ds)
        days = dates(first, date.fromisoformat(until)) if until else [first]
    except (ProjectError, ValueError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    settings = load_settings()
    builder = Builder(spark_session(settings, "sluice-marts"), settings, project)
    for day in days:
        try:
            for built in builder.build_many(chosen, day, require_complete=not allow_incomplete):
                typer.echo(f"{built.ds}  {built.model:<32} {built.rows:>10,} rows  {built.checks:>3} checks passed  "
                           f"{built.seconds:6.1f} s")  # fmt: skip
        except (GateFailed, IncompleteInput) as error:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
