import os
import re
import subprocess
import sys
from pathlib import Path

from sluice.marts.project import load_project
from sluice.settings import Settings

SLUICE = str(Path(sys.executable).parent / "sluice")


def test_status_reports_every_service_healthy(stack: Settings) -> None:
    result = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert states == {"kafka": "healthy", "s3": "healthy", "postgres": "healthy", "spark": "ready"}


def test_up_on_a_running_stack_changes_nothing(stack: Settings) -> None:
    before = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=True).stdout
    subprocess.run([SLUICE, "up"], capture_output=True, text=True, check=True)
    after = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=True).stdout
    pids = [[line.split()[2] for line in text.splitlines()[1:4]] for text in (before, after)]
    assert pids[0] == pids[1]


def test_demo_streams_simulated_events_into_the_lake_and_builds_every_mart(lake: Settings, unique: str) -> None:
    # Its own bucket, and a consumer group that starts after what other tests left on the shared topics.
    env = {
        **os.environ,
        "SLUICE_LAKE_BUCKET": lake.lake_bucket,
        "SLUICE_INGEST_GROUP": lake.ingest_group,
        "SLUICE_MARTS_SCHEMA": unique,
    }
    result = subprocess.run(
        [SLUICE, "demo", "--days", "1", "--seed", "11"], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sent = re.search(r"records to Kafka .* \((\d+) valid, (\d+) producer retries, (\d+) malformed\)", result.stdout)
    landed = re.search(r"ingested (\d+) events .*; (\d+) dead letters", result.stdout)
    assert sent, result.stdout
    assert landed, result.stdout
    valid, retries, malformed = map(int, sent.groups())
    # The sink keeps producer retries as received (staging deduplicates), and dead-letters exactly the malformed.
    assert int(landed.group(1)) == valid + retries
    assert int(landed.group(2)) == malformed > 0
    models = load_project().models
    built = dict(re.findall(r"^  (\w+) +(\d+) rows +\d+ checks passed", result.stdout, re.MULTILINE))
    assert sorted(built) == sorted(models), result.stdout
    assert int(built["mart_marketplace_kpis"]) == 1  # one row per day


def test_a_k8s_profile_without_secrets_fails_naming_the_variables(stack: Settings) -> None:
    result = subprocess.run(
        [SLUICE, "status"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SLUICE_PROFILE": "k8s"},
    )
    assert result.returncode == 2
    assert "SLUICE_S3_SECRET_KEY" in result.stderr
