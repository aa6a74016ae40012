"""Wait for the raw zone: a deferrable sensor on the ingestion sink's completeness markers.

While it waits, the sensor holds no worker slot: its trigger polls S3 in the triggerer. At the deadline the trigger
reports which hours are still missing and the sensor fails naming them, which sends the failure alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent


def missing_hours_of(topics: Sequence[str], day: date, bucket: str) -> dict[str, list[int]]:
    """Per topic, the hours of `day` without a completeness marker; only topics that lack some."""
    from ingestion.completeness import missing_hours
    from sluice.objectstore import s3_client
    from sluice.settings import load_settings

    s3 = s3_client(load_settings())
    missing = {topic: missing_hours(s3, bucket, topic, day) for topic in topics}
    return {topic: hours for topic, hours in missing.items() if hours}


class RawHoursCompleteTrigger(BaseTrigger):
    def __init__(self, topics: list[str], day: str, bucket: str, poke_seconds: float, deadline: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.topics, self.day, self.bucket = topics, day, bucket
        self.poke_seconds, self.deadline = poke_seconds, deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {key: getattr(self, key) for key in ("topics", "day", "bucket", "poke_seconds", "deadline")}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            missing = await asyncio.to_thread(missing_hours_of, self.topics, date.fromisoformat(self.day), self.bucket)
            if not missing:
                yield TriggerEvent({"complete": True})  # type: ignore[no-untyped-call]
                return
            if time.time() >= self.deadline:
                yield TriggerEvent({"complete": False, "missing": missing})  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(self.poke_seconds)


class RawHoursCompleteSensor(BaseSensorOperator):
    """Succeeds once every hour of `day` has a completeness marker in each of `topics`."""

    template_fields: Sequence[str] = ("day", "bucket", "wait_hours")  # a run may name its own wait (a param)

    def __init__(
        self,
        *,
        topics: list[str],
        day: str,
        bucket: str,
        wait_hours: float | str,
        poke_seconds: float = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_seconds, **kwargs)  # the trigger keeps the deadline, not Airflow's timeout
        self.topics, self.day, self.bucket, self.wait_hours = topics, day, bucket, wait_hours

    def execute(self, context: Any) -> None:
        if not missing_hours_of(self.topics, date.fromisoformat(self.day), self.bucket):
            return
        deadline = time.time() + timedelta(hours=float(self.wait_hours)).total_seconds()
        trigger = RawHoursCompleteTrigger(self.topics, self.day, self.bucket, self.poke_interval, deadline)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        if event["complete"]:
            return
        missing = "; ".join(f"{topic} hours {hours}" for topic, hours in event["missing"].items())
        raise AirflowFailException(
            f"the raw zone of s3://{self.bucket} is still incomplete for {self.day} after {self.wait_hours} h: "
            f"no completeness marker for {missing}. Check the ingestion sink (`sluice ingest --status`: lag, "
            "dead letters), then clear this task."
        )
