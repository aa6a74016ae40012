"""The speed track as a local service: `sluice speed` starts it on a running stack, `sluice down` stops it.

Not part of `sluice up`: it is one more JVM reading every event sent to the topics, which only the speed track's
users (the serving views, the "Today" dashboard, `make demo`) need. In the k8s profile it is a SparkApplication.
"""

from __future__ import annotations

import sys

from sluice.settings import ENV_PREFIX, REPO_ROOT
from sluice.speed import FAMILIES
from sluice.stack.services import Service

STARTED = "speed track running"  # what spark_jobs/speed_track.py prints once its queries run


class SpeedTrack(Service):
    name = "speed-track"
    stage = 3  # after Kafka, the lake, the metastore and the SQL endpoint that serves its views
    start_timeout = 180.0  # a JVM, the catalog, and a first micro-batch

    def ports(self) -> dict[int, str]:
        return {}

    def address(self) -> str:
        return ", ".join(f"{self.settings.marts_schema}.{family.view}" for family in FAMILIES)

    def launch(self) -> None:
        s = self.settings
        # The lake and schema it serves, and where it starts, as this stack's caller has them (a demo's, a test's).
        env = {
            f"{ENV_PREFIX}LAKE_BUCKET": s.lake_bucket,
            f"{ENV_PREFIX}MARTS_SCHEMA": s.marts_schema,
            f"{ENV_PREFIX}SPEED_LOOKBACK_HOURS": str(s.speed_lookback_hours),
        }
        self.process.start([sys.executable, "-m", "spark_jobs.speed_track"], env=env, cwd=REPO_ROOT)

    def healthy(self) -> bool:
        """Running, and its latest start got as far as running its queries."""
        if self.process.pid() is None:
            return False
        latest_start = self.process.log_file.read_text(errors="replace").rsplit("\n--- ", 1)[-1]
        return STARTED in latest_start
