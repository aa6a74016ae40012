import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.stack import prerequisites
from sluice.stack.process import ManagedProcess, StackError, group_members, port_is_free, require_free_ports


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_bound_port_is_reported_with_the_setting_that_moves_it(taken_port: int) -> None:
    assert not port_is_free(taken_port)
    with pytest.raises(StackError) as caught:
        require_free_ports("kafka", {taken_port: "SLUICE_KAFKA_PORT"})
    assert f"port {taken_port}" in str(caught.value)
    assert "SLUICE_KAFKA_PORT=" in str(caught.value)


def test_stop_ends_the_service_and_every_child_it_forked(tmp_path: Path) -> None:
    service = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "logs" / "sleeper.log")
    # A parent that ignores SIGTERM and two children: all must be gone after stop().
    pid = service.start(["bash", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"])
    assert service.pid() == pid
    assert len(_wait_for_members(pid, 3)) == 3
    assert service.stop(timeout=1.0)
    assert group_members(pid) == []
    assert service.pid() is None
    assert not service.pid_file.exists()
    assert service.stop() is False  # idempotent


def test_a_recycled_pid_is_not_taken_for_the_service(tmp_path: Path) -> None:
    service = ManagedProcess("ghost", tmp_path / "run", tmp_path / "ghost.log")
    service.run_dir.mkdir(parents=True)
    # Our own pid is alive, but with another start time it is not the service's process.
    service.pid_file.write_text(json.dumps({"pid": os.getpid(), "start": 1}))
    assert service.pid() is None
    assert service.stop() is False


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="Java 17\\+ is required but `java` is not on PATH"):
        prerequisites.java_binary()


def test_old_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_java = tmp_path / "java"
    fake_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake_java.chmod(fake_java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="is Java 11"):
        prerequisites.java_binary()


def test_missing_jars_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(prerequisites, "JARS_DIR", tmp_path)
    with pytest.raises(StackError, match="make setup"):
        prerequisites.jar_dir("kafka")


def _wait_for_members(pgid: int, count: int) -> list[int]:
    import time

    deadline = time.monotonic() + 5
    while len(members := group_members(pgid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return members
