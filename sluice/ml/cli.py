"""`sluice ml ...`: the moderation model's registry and scoring. The work runs in the ML environment (`ml/.venv`,
with PyTorch and MLflow), so this command passes its arguments to `sluice_ml.cli` there."""

from __future__ import annotations

import os
import subprocess

import typer

from sluice.settings import REPO_ROOT
from sluice.stack.mlflow import ml_process_env, ml_python
from sluice.stack.process import StackError

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def ml(context: typer.Context) -> None:
    """The moderation model: `predict --input F --output F [--model NAME@ALIAS|VERSION]`, `rollback --reason R`,
    `show` (run in the ML environment; `sluice ml --help` for details)."""
    try:
        python = ml_python()
    except StackError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    argv = [python, "-m", "sluice_ml.cli", *context.args]
    done = subprocess.run(argv, cwd=REPO_ROOT, env={**os.environ, **ml_process_env()}, check=False)
    raise typer.Exit(done.returncode)
