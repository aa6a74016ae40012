"""Fixtures for integration tests: an isolated lake bucket and consumer group over the shared topics, and one
`sluice demo` run on its own bucket, group and schema that the Airflow and Superset tests share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ingestion.contract import load_contract
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.stack.speed import SpeedTrack
from sluice.topics import create_pipeline_topics
from tests.integration.lake_readers import commit_group_at_end

SLUICE = str(Path(sys.executable).parent / "sluice")
RUN_TIMEOUT_S = 2400  # a whole DAG run of Spark jobs on 2 cores


@pytest.fixture
def lake(stack: Settings, unique: str) -> Settings:
    """Settings whose lake bucket and ingest group are this test's own; the group starts at the topics' end."""
    settings = stack.model_copy(update={"lake_bucket": unique, "ingest_group": unique, "ingest_flush_seconds": 1.0})
    create_pipeline_topics(settings, load_contract().topics)
    s3_client(settings).create_bucket(Bucket=unique)
    commit_group_at_end(settings, [*load_contract().topics])
    return settings


@dataclass(frozen=True)
class DemoRun:
    settings: Settings  # the demo's own bucket, consumer group and schema
    output: str
    day: date
    run_id: str


@pytest.fixture(scope="session")
def demo(stack: Settings) -> DemoRun:
    """`sluice demo` for two simulated days: the marts DAG builds every mart for each, the last day's training mart
    starts the nightly model DAG, Superset is provisioned on the marts, and today's events go to the speed track."""
    unique = f"t{uuid.uuid4().hex[:12]}"
    settings = stack.model_copy(update={"lake_bucket": unique, "ingest_group": unique, "marts_schema": unique})
    s3_client(settings).create_bucket(Bucket=unique)
    commit_group_at_end(settings, list(load_contract().topics))  # only this demo's events, not other tests'
    env = {
        **os.environ,
        "SLUICE_LAKE_BUCKET": unique,
        "SLUICE_INGEST_GROUP": unique,
        "SLUICE_MARTS_SCHEMA": unique,
    }
    result = subprocess.run(
        [SLUICE, "demo", "--days", "2", "--seed", "11", "--live-seconds", "30"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=RUN_TIMEOUT_S,
    )
    SpeedTrack(settings).process.stop()  # the demo leaves it running for its user; the tests after it need the cores
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = re.findall(r"run (manual__\S+) builds \d+ models for dt=(\S+);", result.stdout)
    assert len(runs) == 2, result.stdout
    run_id, day = runs[-1]  # the last day's: its training mart started the nightly model
    return DemoRun(settings, result.stdout, date.fromisoformat(day), run_id)
