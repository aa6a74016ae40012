"""The local stack's warm job runner: Airflow's local-mode tasks run their Spark job here instead of in a new Python.

A new `python -m spark_jobs.build_model` spends about 8 s importing Great Expectations and the Spark Connect client
before it does anything, every task, on the same cores the jobs need. The runner imports them once, then forks a child
per job, as a zygote does: the child starts with everything imported and runs the module as `python -m` would, in the
environment, arguments and working directory the task sent. Its output and exit code go back to the task.

The task's side is `run(...)`: one JSON line out, the job's output back, then a last line `\\0exit <code>`. A task
that goes away (killed, timed out) closes its connection, and the runner kills the job's process group with it, as the
kernel would have killed a child in the task's own group.

A preloaded module whose file changed since the runner started would run stale code: such a job is exec'd as a fresh
`python -m` instead, with a note in its output, until `sluice down && sluice up` restarts the runner.

    python -m sluice.stack.job_runner --socket .sluice/run/jobs.sock
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.settings import REPO_ROOT, Settings

# What every marts task imports: Spark Connect and sqlglot (build_model), Great Expectations (quality, imported by the
# build only where a gate runs, so that readers of build records do not pay for it).
PRELOADED = ("spark_jobs.build_model", "sluice.marts.quality")
EXIT_PREFIX = b"\0exit "
REQUEST_TIMEOUT_S = 5.0


class RunnerUnavailable(RuntimeError):
    """The job runner does not answer on its socket."""


def socket_path(settings: Settings) -> Path:
    return settings.home / "run" / "jobs.sock"


# -- the task's side -----------------------------------------------------------------------------------------------


def run(path: Path, module: str, arguments: list[str], env: dict[str, str], output: Callable[[str], None]) -> int:
    """Run `python -m module arguments` in the runner with exactly `env`; each line of its output goes to `output`.
    Returns its exit code."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError as error:
        client.close()
        raise RunnerUnavailable(f"the job runner does not answer at {path} ({error}); `sluice up` starts it") from None
    with client, client.makefile("rb") as replies:
        request = {"module": module, "arguments": arguments, "env": env, "cwd": str(REPO_ROOT)}
        client.sendall(json.dumps(request).encode() + b"\n")
        for line in replies:
            text, end, code = line.partition(EXIT_PREFIX)  # the job's output need not end with a newline
            if text:
                output(text.decode(errors="replace"))
            if end:
                return int(code)
    raise RunnerUnavailable(f"the job runner at {path} went away before {module} ended")


# -- the runner ----------------------------------------------------------------------------------------------------


def _repo_files() -> dict[str, int]:
    """Every imported module from this repository, with its file's modification time."""
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(str(REPO_ROOT)) and "/.venv/" not in path:
            files[path] = os.stat(path).st_mtime_ns
    return files


def _first_changed(files: dict[str, int]) -> str | None:
    for path, mtime in files.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return path
        except FileNotFoundError:
            return path
    return None


def _child(request: dict[str, Any], output: int, preloaded: dict[str, int]) -> None:
    """In the forked child: become the job. Never returns."""
    code = 1
    try:
        os.setsid()  # its own process group, which the runner kills if the task goes away
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # as `python -m` run there has it
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        argv = [request["module"], *request["arguments"]]
        if stale := _first_changed(preloaded):
            print(f"job runner: {stale} changed since the runner started; running a fresh python", flush=True)
            os.execv(sys.executable, [sys.executable, "-m", *argv])
        sys.argv = argv
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int | None):
            print(done.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - as `python -m` does: the traceback, then exit code 1
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


@dataclass(eq=False)
class _Job:
    conn: socket.socket
    pid: int
    output: int  # the read end of the job's stdout and stderr


class Runner:
    """One thread, one selector: forking from a single-threaded process leaves no lock held in the child."""

    def __init__(self, path: Path) -> None:
        for module in PRELOADED:
            importlib.import_module(module)
        self.preloaded = _repo_files()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        path.chmod(0o600)  # only this user's tasks may run jobs with the stack's credentials
        self.server.listen(64)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.server, selectors.EVENT_READ)
        self.jobs: set[_Job] = set()

    def serve(self) -> None:
        print(f"job runner ready: {len(PRELOADED)} module(s) preloaded, {len(self.preloaded)} repository files watched")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.fileobj is self.server:
                        self._accept()
                    elif isinstance(key.data, tuple):
                        kind, job = key.data
                        (self._relay if kind == "output" else self._hang_up)(job)
        finally:  # jobs have their own process groups: stopping the runner's would leave them running
            for job in list(self.jobs):
                self._hang_up(job)

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        conn.settimeout(REQUEST_TIMEOUT_S)  # one thread serves every task: a silent client must not hold it
        try:
            with conn.makefile("rb") as lines:
                request = json.loads(lines.readline())
        except (OSError, ValueError):  # a health probe sends nothing
            conn.close()
            return
        conn.settimeout(None)
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child keeps only its own output: the runner's other descriptors are not its business
            os.close(read)
            self.selector.close()
            self.server.close()
            conn.close()
            for other in self.jobs:
                os.close(other.output)
                other.conn.close()
            _child(request, write, self.preloaded)
        os.close(write)
        job = _Job(conn, pid, read)
        self.jobs.add(job)
        self.selector.register(read, selectors.EVENT_READ, ("output", job))
        self.selector.register(conn, selectors.EVENT_READ, ("conn", job))  # readable only when the task hangs up

    def _relay(self, job: _Job) -> None:
        chunk = os.read(job.output, 65536)
        if chunk:
            try:
                job.conn.sendall(chunk)
            except OSError:
                self._hang_up(job)
            return
        _, status = os.waitpid(job.pid, 0)
        with contextlib.suppress(OSError):
            job.conn.sendall(EXIT_PREFIX + str(os.waitstatus_to_exitcode(status)).encode() + b"\n")
        self._forget(job)

    def _hang_up(self, job: _Job) -> None:
        """The task went away: so does its job."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        os.waitpid(job.pid, 0)
        self._forget(job)

    def _forget(self, job: _Job) -> None:
        self.jobs.discard(job)
        self.selector.unregister(job.output)
        self.selector.unregister(job.conn)
        os.close(job.output)
        job.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path)
    Runner(parser.parse_args().socket).serve()


if __name__ == "__main__":
    main()
