"""Start, probe and stop the local stack's services as one unit."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.settings import Settings
from sluice.stack import prerequisites
from sluice.stack.airflow import AIRFLOW_SERVICES
from sluice.stack.mlflow import ML_SERVICES
from sluice.stack.process import StackError, group_members, memory_kib, require_free_ports, wait_until
from sluice.stack.services import SERVICES, Service
from sluice.stack.spark import SPARK_SERVICES
from sluice.stack.speed import SpeedTrack
from sluice.stack.superset import SUPERSET_SERVICES


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "healthy", "unhealthy" or "stopped"
    address: str
    pid: int | None = None
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "healthy"


def _services(settings: Settings) -> list[Service]:
    return [
        service(settings)
        for service in (*SERVICES, *SPARK_SERVICES, *SUPERSET_SERVICES, *ML_SERVICES, *AIRFLOW_SERVICES)
    ]


def _probe(service: Service) -> bool:
    return wait_until(service.healthy, timeout=0)


def _status_of(service: Service) -> ServiceStatus:
    pid = service.process.pid()
    if pid is None:
        return ServiceStatus(service.name, "stopped", service.address())
    rss, peak = memory_kib(group_members(pid))
    state = "healthy" if _probe(service) else "unhealthy"
    return ServiceStatus(service.name, state, service.address(), pid, rss / 1024, peak / 1024)


def status(settings: Settings) -> list[ServiceStatus]:
    """Every service of `sluice up`, and the speed track while it runs."""
    speed = SpeedTrack(settings)
    running = [speed] if speed.process.pid() is not None else []
    return [_status_of(service) for service in [*_services(settings), *running]]


def up(settings: Settings) -> list[ServiceStatus]:
    """Start whatever is not running, wait until every service answers, then return the status."""
    if settings.profile != "local":
        raise StackError(f"`sluice up` runs the local stack; profile {settings.profile!r} uses managed services.")
    prerequisites.java_binary()
    services = _services(settings)
    for stage in sorted({service.stage for service in services}):
        _start([service for service in services if service.stage == stage])
    return status(settings)


def _start(services: list[Service]) -> None:
    """Launch the services that are not running, then wait until each answers."""
    started = []
    for service in services:
        if service.process.pid() is not None:
            continue
        require_free_ports(service.name, service.ports())
        service.launch()
        started.append(service)
    for service in services:
        if not wait_until(service.healthy, timeout=service.start_timeout if service in started else 10):
            alive = service.process.pid() is not None
            raise StackError(
                f"{service.name} {'did not become healthy' if alive else 'exited'} within "
                f"{service.start_timeout:.0f}s; its log ({service.process.log_file}) ends with:\n"
                f"{service.process.log_tail()}"
            )
        service.after_healthy()


def start_speed_track(settings: Settings) -> list[ServiceStatus]:
    """Start the stack if needed, then the speed track."""
    up(settings)
    _start([SpeedTrack(settings)])
    return status(settings)


def down(settings: Settings) -> list[str]:
    """Stop every service, the speed track first; returns the names of those that were running."""
    services = [SpeedTrack(settings), *reversed(_services(settings))]
    return [service.name for service in services if service.process.stop(service.stop_signal)]
