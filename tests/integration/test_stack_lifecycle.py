"""A second, throw-away stack on other ports: up, idempotent up, status, down with nothing left."""

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.status import group_lag
from sluice.settings import Settings, load_settings
from sluice.stack import StackError, down, status, up
from sluice.stack.process import group_members, port_is_free
from sluice.stack.services import Kafka
from tests.integration.expected_stack import HEALTHY_STACK


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_s3_port() -> int:
    """An S3 port whose six following ports, and each of those + 10000, are free too."""
    for base in range(20_000, 25_000, 50):
        if all(port_is_free(port) for offset in range(7) for port in (base + offset, base + offset + 10_000)):
            return base
    raise RuntimeError("no free block of ports for a second SeaweedFS")


@pytest.fixture
def other_stack(settings: Settings, unique: str) -> Iterator[Settings]:
    # Under the main state directory, not /tmp: PostgreSQL runs as the `postgres` user under root
    # and must be able to reach its data folder.
    home = settings.home / "test-stacks" / unique
    other = load_settings(
        home=home,
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        s3_port=_free_s3_port(),
        postgres_port=_free_port(),
        slack_receiver_port=_free_port(),
        airflow_port=_free_port(),
        spark_connect_port=_free_port(),
        spark_thrift_port=_free_port(),
        superset_port=_free_port(),
        superset_workers=1,
        mlflow_port=_free_port(),
        kafka_heap="512m",
    )
    yield other
    down(other)
    shutil.rmtree(home, ignore_errors=True)


def _processes_under(home: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(home) in cmdline:
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def test_up_status_down_leave_no_process_behind(other_stack: Settings) -> None:
    started = {row.name: row for row in up(other_stack)}
    assert {name: row.state for name, row in started.items()} == HEALTHY_STACK
    assert all(row.rss_mib > 0 for row in started.values())
    # A new broker's first consumer-group lookup used to fail with CoordinatorNotAvailable right after `up`.
    assert group_lag(other_stack, []) == {}

    again = {row.name: row.pid for row in up(other_stack)}
    assert again == {name: row.pid for name, row in started.items()}, "a second `up` must not restart anything"

    assert sorted(down(other_stack)) == [
        "airflow-api",
        "airflow-dags",
        "airflow-scheduler",
        "airflow-trigger",
        "jobs",
        "kafka",
        "mlflow",
        "postgres",
        "s3",
        "slack",
        "spark-connect",
        "spark-thrift",
        "superset",
    ]
    assert {row.state for row in status(other_stack)} == {"stopped"}
    for row in started.values():
        if row.pid is not None:
            assert group_members(row.pid) == [], f"{row.name} left processes behind"
    assert _processes_under(other_stack.home) == []
    assert down(other_stack) == []  # idempotent


def test_a_taken_port_stops_up_with_the_setting_to_change(other_stack: Settings) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", other_stack.kafka_port))
        blocker.listen()
        with pytest.raises(StackError, match=f"port {other_stack.kafka_port}.*SLUICE_KAFKA_PORT"):
            up(other_stack)
    assert _processes_under(other_stack.home) == []


def test_kafka_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    # One random cluster id in 64 starts with "-"; CI once failed on such an id read as an option.
    kafka = Kafka(load_settings(home=tmp_path))
    kafka.format_storage(kafka.write_config(), "-dashFirstClusterId012")
    assert "cluster.id=-dashFirstClusterId012" in (tmp_path / "kafka" / "data" / "meta.properties").read_text()
