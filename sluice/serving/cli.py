"""`sluice superset ...`: provision Superset from the repository's files, and refresh it after a publish."""

from __future__ import annotations

from typing import Annotated

import typer

from sluice.marts.project import ProjectError
from sluice.serving.dashboards import DashboardSpecError
from sluice.serving.superset_api import SupersetError
from sluice.settings import load_settings

app = typer.Typer(help="Superset for analysts: datasets, dashboards and roles as code.", no_args_is_help=True)


@app.command()
def sync() -> None:
    """Make Superset match marts/ and superset/dashboards/: create, update or delete only what differs."""
    from sluice.serving.superset_sync import sync as run_sync
    from sluice.serving.superset_sync import where_to_look

    settings = load_settings()
    try:
        report = run_sync(settings)
    except (SupersetError, ProjectError, DashboardSpecError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(report.summary())
    for line in where_to_look(settings, report):
        typer.echo(line)


@app.command()
def refresh(
    marts: Annotated[list[str], typer.Argument(help="Marts just published, e.g. mart_gmv_daily.")],
) -> None:
    """Refresh these marts' datasets and drop their charts' cached results, so dashboards show the new data."""
    from sluice.serving.superset_sync import refresh as run_refresh

    try:
        uids = run_refresh(load_settings(), marts)
    except (SupersetError, ProjectError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"refreshed {len(uids)} datasets and invalidated their cached chart results")
