"""The stack's warm job runner, as Airflow's local tasks use it: each job a forked child of one warm Python, with the
task's environment, arguments and exit code, and gone when its task goes away."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sluice.settings import REPO_ROOT, Settings
from sluice.stack import job_runner
from sluice.stack.process import wait_until
from sluice.stack.services import JobRunner

PROBE = "tests.integration.job_probe"


def _run(settings: Settings, *arguments: str, **env: str) -> tuple[int, str]:
    lines: list[str] = []
    code = job_runner.run(job_runner.socket_path(settings), PROBE, list(arguments), {**os.environ, **env}, lines.append)
    return code, "".join(lines)


@pytest.mark.parametrize("code", [0, 1, 3])
def test_a_job_gets_the_tasks_environment_and_arguments_and_returns_its_exit_code(stack: Settings, code: int) -> None:
    returned, output = _run(stack, str(code), SLUICE_PROBE=f"probe-{code}")
    assert returned == code
    assert f"argv=['{code}'] probe=probe-{code} cwd={REPO_ROOT} " in output
    assert f"pid={JobRunner(stack).process.pid()}\n" not in output  # a child, not the runner itself


def test_a_job_that_raises_prints_its_traceback_and_exits_1(stack: Settings) -> None:
    code, output = _run(stack, "raise")
    assert code == 1
    assert "RuntimeError: the probe broke" in output
    assert "Traceback (most recent call last)" in output


def test_a_task_that_goes_away_takes_its_job_with_it(stack: Settings) -> None:
    task = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import os, sys
            from sluice.settings import load_settings
            from sluice.stack import job_runner
            path = job_runner.socket_path(load_settings())
            job_runner.run(path, {PROBE!r}, ["sleep"], dict(os.environ), lambda line: print(line, end="", flush=True))
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLUICE_HOME": str(stack.home)},
    )
    assert task.stdout is not None
    started = re.search(r"pid=(\d+)", task.stdout.readline())
    assert started, "the job never started"
    job = int(started.group(1))
    assert os.path.exists(f"/proc/{job}")
    task.send_signal(signal.SIGKILL)  # as when Airflow kills a task: it cannot say goodbye
    task.wait()
    assert wait_until(lambda: not os.path.exists(f"/proc/{job}"), timeout=10, interval=0.1), f"job {job} lives on"


def test_a_runner_that_is_not_there_is_named_with_the_command_that_starts_it(tmp_path: Path) -> None:
    with pytest.raises(job_runner.RunnerUnavailable, match=r"does not answer at .*jobs.sock.*`sluice up` starts it"):
        job_runner.run(tmp_path / "jobs.sock", PROBE, ["0"], {}, print)
