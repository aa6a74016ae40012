"""MLflow in the local stack: the moderation model's tracking server and registry, on loopback.

It runs from the ML environment (`ml/.venv`, `make setup`). Runs and registered models live in the stack's
PostgreSQL (database `settings.mlflow_database`, migrated by the server on first start); artifacts go through the
server (`--serve-artifacts`) into the lake under `models/`, so clients need no S3 credentials of their own.
"""

from __future__ import annotations

import requests

from sluice import lake
from sluice.settings import REPO_ROOT, Settings
from sluice.stack.process import StackError
from sluice.stack.services import Service

ML_DIR = REPO_ROOT / "ml"


def ml_python() -> str:
    path = ML_DIR / ".venv" / "bin" / "python"
    if not path.exists():
        raise StackError(f"ml: {path} is missing; `make setup` installs the ML environment")
    return str(path)


def ml_process_env() -> dict[str, str]:
    """A process of the ML environment imports its package (ml/) and Sluice's settings, layout and object store."""
    return {"PYTHONPATH": f"{REPO_ROOT}:{ML_DIR}"}


def mlflow_server_env(settings: Settings) -> dict[str, str]:
    """The server writes artifacts to the lake with the jobs' S3 key: models/ is a zone jobs own."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": settings.s3_url,
        "AWS_ACCESS_KEY_ID": settings.secret("s3_access_key"),
        "AWS_SECRET_ACCESS_KEY": settings.secret("s3_secret_key"),
        "AWS_DEFAULT_REGION": settings.s3_region,
    }


class MLflow(Service):
    """Tracking server, model registry and UI on 127.0.0.1:`settings.mlflow_port`."""

    name = "mlflow"
    stage = 2  # after PostgreSQL and the S3 server
    start_timeout = 180.0  # the first start creates MLflow's tables

    def ports(self) -> dict[int, str]:
        return {self.settings.mlflow_port: "SLUICE_MLFLOW_PORT"}

    def address(self) -> str:
        return self.settings.mlflow_url

    def launch(self) -> None:
        s = self.settings
        self.dir.mkdir(parents=True, exist_ok=True)
        store = s.postgres_dsn(s.mlflow_database).replace("postgresql://", "postgresql+psycopg2://", 1)
        argv = [
            ml_python(), "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(s.mlflow_port), "--workers", "1",
            "--backend-store-uri", store,
            "--serve-artifacts", "--artifacts-destination", f"s3://{s.lake_bucket}/{lake.MODELS}",
        ]  # fmt: skip
        self.process.start(argv, env=mlflow_server_env(s), cwd=self.dir)

    def healthy(self) -> bool:
        return requests.get(f"http://127.0.0.1:{self.settings.mlflow_port}/health", timeout=5).text == "OK"


ML_SERVICES: tuple[type[Service], ...] = (MLflow,)
