"""Shared fixtures: settings, the real local stack (started once, or reused), unique names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sluice.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TESTS = Path(__file__).parent
# Tests kill tasks and wait for Airflow's retry: seconds, not the default five minutes (read by a stack tests start).
os.environ.setdefault("SLUICE_AIRFLOW_RETRY_DELAY_SECONDS", "20")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder: tests/unit -> unit, tests/integration -> integration."""
    for item in items:
        tier = Path(item.fspath).relative_to(TESTS).parts[0]
        if tier in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def k8s_settings() -> Settings:
    """The `k8s` profile's settings with made-up endpoints and secrets: for rendering manifests, not connecting."""
    secrets = {"s3_access_key": "k", "s3_secret_key": "s", "postgres_password": "p", "airflow_admin_password": "a"}
    return load_settings(
        profile="k8s",
        kafka_bootstrap="kafka:9092",
        s3_endpoint="https://s3.example",
        airflow_ui_url="https://airflow.example",
        mlflow_tracking_url="https://mlflow.example",
        **secrets,
    )


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Settings]:
    """The local stack, healthy. Reuses a running one; stops it afterwards only if it started it."""
    from sluice.stack import down, status, up

    already_up = all(row.ok for row in status(settings))
    if not already_up:
        up(settings)
    yield settings
    if not already_up:
        down(settings)


@pytest.fixture
def unique() -> str:
    """A name no other test uses: for topics, S3 prefixes, consumer groups, schemas."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def spark(stack: Settings) -> Iterator[SparkSession]:
    from sluice.spark import spark_session

    session = spark_session(stack, "sluice-tests")
    yield session
    session.stop()
