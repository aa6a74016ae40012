"""The completeness watermark's arithmetic: which hours a topic's partition progress makes complete (the markers
themselves, on the real S3 server, are in tests/integration/test_markers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingestion.completeness import (
    Progress,
    hours_to_mark,
    topic_watermark,
)

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
