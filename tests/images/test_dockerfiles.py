"""The images' Dockerfiles (docker/), linted with hadolint at its strictest: no container engine runs here to build
them. Expected paths and users are written out here and in Sluice's settings, not read from the files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sluice.orchestration.jobs import SparkJob
from sluice.settings import REPO_ROOT, Settings

HADOLINT = REPO_ROOT / "tools" / "iac" / ".venv" / "bin" / "hadolint"
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
APP_DIR = "/opt/sluice"  # where both images hold the repository


def hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), f"{HADOLINT} is missing: run scripts/install-iac-tools (make setup does)"
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_there_is_an_image_for_sluice_and_one_for_gpu_training() -> None:
    assert [path.name for path in DOCKERFILES] == ["ml.Dockerfile", "sluice.Dockerfile"]


def test_every_dockerfile_passes_hadolint_with_no_finding_at_all() -> None:
    result = hadolint(*DOCKERFILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_a_dockerfile_that_runs_as_root(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y curl\nUSER root\n")
    result = hadolint(bad)
    assert result.returncode == 1
    assert {"DL3002", "DL3008", "DL3015"} <= set(re.findall(r"DL\d{4}", result.stdout))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_each_image_runs_as_an_unprivileged_numeric_user_from_the_repository(dockerfile: Path) -> None:
    final_stage = dockerfile.read_text().split("\nFROM ")[-1]
    users = re.findall(r"^USER (\S+)$", final_stage, re.MULTILINE)
    assert users, f"{dockerfile.name}: the final stage names no USER, so it runs as root"
    assert users[-1] == "10001", f"{dockerfile.name}: the last USER is {users[-1]}, not 10001"
    assert re.search(rf"^WORKDIR {APP_DIR}$", final_stage, re.MULTILINE)


def test_the_spark_applications_main_file_is_where_the_sluice_image_puts_the_repository(k8s_settings: Settings) -> None:
    main_file = SparkJob.speed_track().spark_application(k8s_settings)["spec"]["mainApplicationFile"]
    assert main_file == f"local://{APP_DIR}/spark_jobs/speed_track.py"
    assert f"COPY --from=python {APP_DIR} {APP_DIR}" in (REPO_ROOT / "docker" / "sluice.Dockerfile").read_text()
