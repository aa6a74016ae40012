"""Completeness markers on the real S3 server: partitions going idle and active move the topic's watermark, and a
restarted worker marks what its idle partitions make due. (The pure watermark arithmetic is unit-tested.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ingestion.completeness import Completeness
from sluice import lake as layout
from sluice.lake import ingest_progress_key
from sluice.objectstore import S3Client, list_objects, s3_client
from sluice.settings import Settings

TOPIC = "marketplace.users"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 1, hour, minute, tzinfo=UTC)


@pytest.fixture
def bucket(stack: Settings, unique: str) -> tuple[S3Client, Settings]:
    settings = stack.model_copy(update={"lake_bucket": unique, "ingest_allowed_lateness_minutes": 60})
    s3 = s3_client(settings)
    s3.create_bucket(Bucket=unique)
    return s3, settings


@dataclass
class Lake:
    """What the tests read back from the bucket, independently of Completeness."""

    s3: S3Client
    settings: Settings

    def completeness(self) -> Completeness:
        return Completeness(self.settings, self.s3)

    def document(self, key: str) -> Any:
        try:
            return json.loads(self.s3.get_object(Bucket=self.settings.lake_bucket, Key=key)["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return None

    def marked(self) -> dict[int, int]:
        """Marked hour -> marker version."""
        keys = [i["Key"] for i in list_objects(self.s3, self.settings.lake_bucket, layout.raw_topic_prefix(TOPIC))]
        markers = [self.document(key) for key in keys if layout.is_marker(key)]
        return {datetime.fromisoformat(m["hour"]).hour: m["version"] for m in markers}


def test_partitions_going_idle_and_active_again_move_the_markers(bucket: tuple[S3Client, Settings]) -> None:
    lake = Lake(*bucket)
    worker = lake.completeness()
    # p0 stops early at 10:40, p1 reaches 16:20, p2 13:10; p3 never gets a record.
    worker.committed(TOPIC, 0, [at(10)], at(10, 40))
    worker.committed(TOPIC, 1, [at(h) for h in range(10, 17)], at(16, 20))
    worker.committed(TOPIC, 2, [at(11), at(13)], at(13, 10))
    assert worker.publish() == 9  # p0 holds the watermark at 09:40: hours 0-8, empty, from midnight of the first day
    assert lake.document(ingest_progress_key(TOPIC, 0)) == {"latest_event": at(10, 40).isoformat(), "idle": False}

    worker.idle(TOPIC, 0)
    assert worker.publish() == 3  # p2 (13:10) is now the slowest active one: 9, 10 and 11
    assert lake.document(ingest_progress_key(TOPIC, 0))["idle"] is True
    worker.idle(TOPIC, 1)
    assert worker.publish() == 0  # p2 still holds it
    worker.idle(TOPIC, 2)
    worker.idle(TOPIC, 3)
    assert worker.publish() == 3  # all idle: up to 16:20 less the lateness, so 12, 13 and 14
    assert lake.document(ingest_progress_key(TOPIC, 3)) is None
    assert lake.marked() == {hour: 1 for hour in range(15)}

    # Records reach p2 again: it is active at once, and its late event rewrites the 13:00 marker.
    worker.arrived(TOPIC, 2)
    assert worker.publish() == 0
    assert lake.document(ingest_progress_key(TOPIC, 2))["idle"] is False
    worker.committed(TOPIC, 2, [at(13)], at(13, 30))
    assert worker.publish() == 1
    assert lake.marked() == {hour: 2 if hour == 13 else 1 for hour in range(15)}
    assert lake.document(ingest_progress_key(TOPIC, 2)) == {"latest_event": at(13, 30).isoformat(), "idle": False}


def test_a_restarted_worker_marks_what_its_idle_partitions_make_due(bucket: tuple[S3Client, Settings]) -> None:
    lake = Lake(*bucket)
    first = lake.completeness()
    first.committed(TOPIC, 0, [at(10)], at(10, 40))
    first.committed(TOPIC, 1, [at(h) for h in range(10, 17)], at(16, 20))
    assert first.publish() == 9  # hours 0-8

    # A new process that gets no records at all: its partitions go idle and the hours become complete.
    second = lake.completeness()
    second.idle(TOPIC, 0)
    second.idle(TOPIC, 1)
    assert second.publish() == 6
    assert lake.marked() == {hour: 1 for hour in range(15)}
