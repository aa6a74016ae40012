import subprocess
import sys
from pathlib import Path

from sluice.settings import Settings
from tests.integration.expected_stack import HEALTHY_STACK

SLUICE = str(Path(sys.executable).parent / "sluice")


def test_status_reports_every_service_healthy(stack: Settings) -> None:
    result = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert states == HEALTHY_STACK


def test_up_on_a_running_stack_changes_nothing(stack: Settings) -> None:
    before = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=True).stdout
    subprocess.run([SLUICE, "up"], capture_output=True, text=True, check=True)
    after = subprocess.run([SLUICE, "status"], capture_output=True, text=True, check=True).stdout
    pids = [[line.split()[2] for line in text.splitlines()[1:]] for text in (before, after)]
    assert pids[0] == pids[1]


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
