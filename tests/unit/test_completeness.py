from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from ingestion.completeness import (
    Completeness,
    Progress,
    hours_to_mark,
    topic_watermark,
)
from sluice.lake import ingest_progress_key
from sluice.objectstore import S3Client
from sluice.settings import Settings

LATENESS = timedelta(minutes=60)
TOPIC = "marketplace.users"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 1, hour, minute, tzinfo=UTC)


def active(latest: datetime) -> Progress:
    return Progress(latest, idle=False)


def idle(latest: datetime) -> Progress:
    return Progress(latest, idle=True)


def test_hours_wholly_before_the_slowest_partition_less_lateness_are_complete() -> None:
    # The slowest partition is at 13:30; less an hour of lateness the watermark is 12:30.
    watermark = topic_watermark([active(at(15, 10)), active(at(13, 30))], LATENESS)
    assert watermark == at(12, 30)
    assert hours_to_mark(watermark, None, first_hour=at(10)) == [at(10), at(11)]


def test_idle_partitions_do_not_hold_the_watermark_back() -> None:
    # The partition stuck at 10:40 is idle: the slowest active one (13:30) decides.
    progress = [idle(at(10, 40)), active(at(15, 10)), active(at(13, 30)), idle(at(11, 0))]
    assert topic_watermark(progress, LATENESS) == at(12, 30)


def test_a_topic_whose_partitions_are_all_idle_is_complete_up_to_its_newest_event() -> None:
    watermark = topic_watermark([idle(at(10, 40)), idle(at(16, 20)), idle(at(13, 10))], LATENESS)
    assert watermark == at(15, 20)
    assert hours_to_mark(watermark, None, first_hour=at(10)) == [at(10), at(11), at(12), at(13), at(14)]


def test_an_idle_partition_with_the_newest_event_does_not_lift_the_active_ones() -> None:
    assert topic_watermark([idle(at(16, 20)), active(at(13, 10))], LATENESS) == at(12, 10)


def test_a_partition_active_again_holds_the_watermark_back_and_nothing_is_unmarked() -> None:
    before = topic_watermark([idle(at(10, 40)), idle(at(16, 20))], LATENESS)
    after = topic_watermark([active(at(10, 40)), idle(at(16, 20))], LATENESS)
    assert (before, after) == (at(15, 20), at(9, 40))
    assert hours_to_mark(after, marked_until=at(14), first_hour=at(10)) == []


def test_no_progress_means_nothing_is_complete() -> None:
    assert topic_watermark([], LATENESS) is None
    assert hours_to_mark(None, None, first_hour=at(10)) == []


def test_marked_hours_are_not_marked_again() -> None:
    assert hours_to_mark(at(12, 30), marked_until=at(11), first_hour=at(10)) == []
    assert hours_to_mark(at(13, 0), marked_until=at(11), first_hour=at(10)) == [at(12)]


def test_progress_documents_without_an_idle_flag_are_active() -> None:
    assert Progress.parse({"latest_event": at(9).isoformat()}) == active(at(9))
    assert Progress.parse(idle(at(9)).document()) == idle(at(9))


class FakeLake:
    """The few S3 calls Completeness makes, on a dict."""

    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise self.exceptions.NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[Key] = Body

    def list_objects_v2(self, Bucket: str, Prefix: str) -> dict[str, Any]:
        return {
            "Contents": [{"Key": k, "Size": len(v)} for k, v in sorted(self.objects.items()) if k.startswith(Prefix)]
        }

    def get_paginator(self, operation: str) -> FakeLake:
        return self

    def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        return [self.list_objects_v2(Bucket, Prefix)]

    def document(self, key: str) -> Any:
        return json.loads(self.objects[key]) if key in self.objects else None

    def marked(self) -> dict[int, int]:
        """Marked hour -> marker version."""
        markers = [json.loads(v) for k, v in self.objects.items() if k.endswith("_COMPLETE.json")]
        return {datetime.fromisoformat(m["hour"]).hour: m["version"] for m in markers}


def completeness(lake: FakeLake) -> Completeness:
    return Completeness(Settings(ingest_allowed_lateness_minutes=60), cast(S3Client, lake))


def test_partitions_going_idle_and_active_again_move_the_markers() -> None:
    lake = FakeLake()
    worker = completeness(lake)
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


def test_a_restarted_worker_marks_what_its_idle_partitions_make_due() -> None:
    lake = FakeLake()
    first = completeness(lake)
    first.committed(TOPIC, 0, [at(10)], at(10, 40))
    first.committed(TOPIC, 1, [at(h) for h in range(10, 17)], at(16, 20))
    assert first.publish() == 9  # hours 0-8

    # A new process that gets no records at all: its partitions go idle and the hours become complete.
    second = completeness(lake)
    second.idle(TOPIC, 0)
    second.idle(TOPIC, 1)
    assert second.publish() == 6
    assert lake.marked() == {hour: 1 for hour in range(15)}
