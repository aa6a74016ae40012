"""Superset 6 in the local stack: gunicorn on loopback, from its own environment (`superset/.venv`, `make setup`),
its metadata in the stack's PostgreSQL, configured by `superset/superset_config.py`.

The first start (and the first after an upgrade) migrates the metadata database, creates the admin user and runs
`superset init` (roles and permissions). Everything analysts see is provisioned afterwards by `sluice superset sync`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

from sluice.settings import REPO_ROOT, Settings
from sluice.stack.credentials import secret_hint, setting_or_generated
from sluice.stack.process import StackError
from sluice.stack.services import Service

SUPERSET_DIR = REPO_ROOT / "superset"
ADMIN_USER = "admin"
ANALYST_USER = "analyst"


def superset_bin(program: str) -> Path:
    path = SUPERSET_DIR / ".venv" / "bin" / program
    if not path.exists():
        raise StackError(f"superset: {path} is missing; `make setup` installs Superset's environment")
    return path


def superset_home(settings: Settings) -> Path:
    return settings.home / "superset"


def _password_file(settings: Settings, user: str) -> Path:
    return superset_home(settings) / f"{user}-password"


def password(settings: Settings, user: str) -> str:
    """The admin's or the analyst's password: the setting when given; locally, generated on first use and kept."""
    return setting_or_generated(settings, f"superset_{user}_password", _password_file(settings, user))


def password_hint(settings: Settings, user: str) -> str:
    return secret_hint(settings, f"superset_{user}_password", _password_file(settings, user))


def login_hint(settings: Settings, user: str) -> str:
    """How `user` signs in: locally the generated password itself, otherwise the setting that holds it."""
    if settings.profile == "local" and getattr(settings, f"superset_{user}_password") is None:
        return f"user {user}, password {password(settings, user)} (kept {password_hint(settings, user)})"
    return f"user {user}, password from {password_hint(settings, user)}"


def superset_env(settings: Settings) -> dict[str, str]:
    """What superset_config.py reads, for the server and every `superset` command."""
    s = settings
    metadata = s.postgres_dsn(s.superset_metadata_database).replace("postgresql://", "postgresql+psycopg2://", 1)
    return {
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SUPERSET_HOME": str(superset_home(s)),
        "SUPERSET_SECRET_KEY": setting_or_generated(s, "superset_secret_key", superset_home(s) / "secret-key"),
        "SUPERSET_METADATA_DB_URI": metadata,
        "SLUICE_PROFILE": s.profile,
        "FLASK_APP": "superset.app:create_app()",
        "PYTHONPATH": str(SUPERSET_DIR),
    }


def superset_cli(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(superset_bin("superset")), *args],
        env={**os.environ, **superset_env(settings)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _installed_version() -> str:
    return next((SUPERSET_DIR / ".venv" / "lib").glob("python3*/site-packages/apache_superset-*.dist-info")).name


class Superset(Service):
    """The analysts' BI on 127.0.0.1:`settings.superset_port`."""

    name = "superset"
    stage = 2  # after PostgreSQL, which holds its metadata database
    start_timeout = 180.0

    def ports(self) -> dict[int, str]:
        return {self.settings.superset_port: "SLUICE_SUPERSET_PORT"}

    def address(self) -> str:
        return self.settings.superset_url

    def _initialise(self) -> None:
        """Migrate, create the admin and sync Superset's own roles; once per installed Superset version."""
        stamp = self.dir / "initialised-for"
        version = _installed_version()
        if stamp.exists() and stamp.read_text() == version:
            return
        admin = [
            "fab", "create-admin", "--username", ADMIN_USER, "--firstname", "Sluice", "--lastname", "Admin",
            "--email", "admin@sluice.local", "--password", password(self.settings, ADMIN_USER),
        ]  # fmt: skip
        for step in (["db", "upgrade"], admin, ["init"]):
            done = superset_cli(self.settings, *step)
            if done.returncode != 0:
                raise StackError(
                    f"superset {step[0]} {step[1] if len(step) > 1 else ''} failed:\n"
                    f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
        stamp.write_text(version)

    def launch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._initialise()
        argv = [
            str(superset_bin("gunicorn")),
            "--bind", f"127.0.0.1:{self.settings.superset_port}",
            "--workers", str(self.settings.superset_workers),
            "--worker-class", "gthread", "--threads", "8",
            "--timeout", "180",
            "--limit-request-line", "0", "--limit-request-field_size", "0",
            "superset.app:create_app()",
        ]  # fmt: skip
        self.process.start(argv, env=superset_env(self.settings), cwd=self.dir)

    def healthy(self) -> bool:
        return requests.get(f"http://127.0.0.1:{self.settings.superset_port}/health", timeout=5).text == "OK"


SUPERSET_SERVICES: tuple[type[Service], ...] = (Superset,)
