"""Background service processes: start detached, find again by pid file, stop with no orphans.

Each service runs in its own session (process group), so stopping it reaches every child it
forked; the pid file also records the process start time, so a recycled pid is never mistaken
for the service.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A service cannot start or stop; the message says why and what to do."""


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it follow the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def group_members(pgid: int) -> list[int]:
    """Pids of live processes in a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def memory_kib(pids: Sequence[int]) -> tuple[int, int]:
    """(current RSS, peak RSS) summed over pids, in KiB, from /proc/PID/status."""
    rss = peak = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1])
    return rss, peak


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_ports(service: str, ports: dict[int, str]) -> None:
    """Fail with the setting to change when a port the service binds is taken."""
    for port, setting in ports.items():
        if not port_is_free(port):
            raise StackError(
                f"{service}: port {port} on 127.0.0.1 is already in use by another process. "
                f"Stop that process, or move {service} with {setting}=<free port>."
            )


@dataclass(frozen=True)
class ManagedProcess:
    """A detached service process tracked by a pid file under the stack's run directory."""

    name: str
    run_dir: Path
    log_file: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The service's pid if its process is alive and is the one we started."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record["pid"])
        if _start_ticks(pid) != record["start"]:
            return None
        return pid

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        group: str | None = None,
    ) -> int:
        """Start argv detached; as `user` (and, with `group`, that group and no other) when running as root."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                user=user,
                group=group,
                extra_groups=[] if group else None,  # drop root's supplementary groups along with its group
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "start": _start_ticks(proc.pid)}))
        return proc.pid

    def stop(self, stop_signal: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
        """Stop the service and everything in its process group; True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, stop_signal)
        deadline = time.monotonic() + timeout
        while group_members(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        # Whatever ignored the polite signal, or outlived its parent, goes now.
        if group_members(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while group_members(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.5) -> bool:
    """Poll check() until it returns true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - a failing probe just means "not ready yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
