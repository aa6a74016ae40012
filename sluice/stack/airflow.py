"""Airflow 3 in the local stack: API server (UI), scheduler, DAG processor and triggerer on the LocalExecutor, with
their metadata in the stack's PostgreSQL and the DAGs of `dags/`.

Every component reads the same environment (`airflow_env`); secrets it needs (the JWT secret the components sign
task tokens with, the Fernet key, the admin password) are generated once into the stack's state directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from sluice.settings import REPO_ROOT, Settings
from sluice.stack.credentials import secret_hint, setting_or_generated, state_secret
from sluice.stack.process import StackError
from sluice.stack.services import Service

ADMIN_USER = "admin"
SLACK_CONNECTION = "slack_alerts"


def airflow_home(settings: Settings) -> Path:
    return settings.home / "airflow"


def _state_secret(settings: Settings, name: str, make: str = "") -> str:
    return state_secret(airflow_home(settings) / name, make)


def admin_password(settings: Settings) -> str:
    """The UI's admin password: the setting when given; locally, generated on first start and kept."""
    return setting_or_generated(settings, "airflow_admin_password", airflow_home(settings) / "admin-password")


def admin_password_hint(settings: Settings) -> str:
    """Where the admin password comes from, without printing it again."""
    return secret_hint(settings, "airflow_admin_password", airflow_home(settings) / "admin-password")


def slack_receiver_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.slack_receiver_port}/services/T0LOCAL/B0LOCAL/sluice"


def local_api(settings: Settings) -> str:
    """Where the local API server listens (links for users use `settings.airflow_url`)."""
    return f"http://127.0.0.1:{settings.airflow_port}"


def airflow_env(settings: Settings) -> dict[str, str]:
    """The environment of every Airflow process, CLI call and task (tasks inherit SLUICE_* from it)."""
    from cryptography.fernet import Fernet

    home = airflow_home(settings)
    api = local_api(settings)
    passwords = home / "passwords.json"
    home.mkdir(parents=True, exist_ok=True)
    passwords.touch(mode=0o600)
    passwords.write_text(json.dumps({ADMIN_USER: admin_password(settings)}))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": _state_secret(settings, "fernet-key", Fernet.generate_key().decode()),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.postgres_dsn("airflow").replace(
            "postgresql://", "postgresql+psycopg2://", 1
        ),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": _state_secret(settings, "jwt-secret"),
        # A task's token is issued when it is queued; on 2 cores a task can wait behind long Spark jobs for more
        # than the default 10 minutes, and then fails with "Invalid auth token" before it starts.
        "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME": "14400",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(settings.airflow_parallelism),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # A task whose process was killed is failed (and alerted) after this long without a heartbeat.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "90",
        # Each parse of the DAG files costs CPU: every 15 s it took a third of a core, idle, on 2 cores. An edited DAG
        # file is parsed again at once all the same (file_parsing_sort_mode=modified_time); a marts/ change that adds
        # or removes a task shows within 5 minutes (`touch dags/sluice_marts.py` for at once).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "15",  # new DAG files show up within seconds
        "PYTHONPATH": str(REPO_ROOT),
    }
    # Connections come from the environment (AIRFLOW_CONN_*); locally, alerts go to the Slack stand-in.
    conn = f"AIRFLOW_CONN_{SLACK_CONNECTION.upper()}"
    if conn not in os.environ and settings.profile == "local":
        env[conn] = json.dumps({"conn_type": "slackwebhook", "password": slack_receiver_url(settings)})
    return env


def airflow_cli(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    airflow = str(Path(sys.executable).parent / "airflow")
    return subprocess.run(
        [airflow, *args],
        env={**os.environ, **airflow_env(settings)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class AirflowComponent(Service):
    """One Airflow component process; `airflow <command>`."""

    command: str
    stage = 1  # after PostgreSQL, which holds its metadata database
    start_timeout = 180.0

    def ports(self) -> dict[int, str]:
        return {}

    def address(self) -> str:
        return local_api(self.settings)

    def launch(self) -> None:
        airflow = str(Path(sys.executable).parent / "airflow")
        self.process.start([airflow, self.command], env=airflow_env(self.settings), cwd=REPO_ROOT)

    def healthy(self) -> bool:
        health = requests.get(f"{local_api(self.settings)}/api/v2/monitor/health", timeout=5).json()
        return bool(health[self.command.replace("-", "_")]["status"] == "healthy")


class AirflowApiServer(AirflowComponent):
    """The UI and REST API; migrates the metadata database first (a no-op when it is current)."""

    name = "airflow-api"
    command = "api-server"

    def ports(self) -> dict[int, str]:
        return {self.settings.airflow_port: "SLUICE_AIRFLOW_PORT"}

    def launch(self) -> None:
        migrated = airflow_cli(self.settings, "db", "migrate")
        if migrated.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{migrated.stdout[-2000:]}{migrated.stderr[-2000:]}")
        super().launch()

    def healthy(self) -> bool:
        health = requests.get(f"{local_api(self.settings)}/api/v2/monitor/health", timeout=5).json()
        return bool(health["metadatabase"]["status"] == "healthy")


class AirflowScheduler(AirflowComponent):
    name = "airflow-scheduler"
    command = "scheduler"


class AirflowDagProcessor(AirflowComponent):
    name = "airflow-dags"
    command = "dag-processor"


class AirflowTriggerer(AirflowComponent):
    name = "airflow-trigger"
    command = "triggerer"


AIRFLOW_SERVICES: tuple[type[Service], ...] = (
    AirflowApiServer,
    AirflowScheduler,
    AirflowDagProcessor,
    AirflowTriggerer,
)
