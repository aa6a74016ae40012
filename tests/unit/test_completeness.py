from datetime import UTC, datetime, timedelta

from ingestion.completeness import hours_to_mark, marker_key

LATENESS = timedelta(minutes=60)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 1, hour, minute, tzinfo=UTC)


def test_hours_wholly_before_the_slowest_partition_less_lateness_are_complete() -> None:
    # The slowest partition is at 13:30; less an hour of lateness the watermark is 12:30.
    assert hours_to_mark([at(15, 10), at(13, 30)], LATENESS, None, first_hour=at(10)) == [at(10), at(11)]


def test_marked_hours_are_not_marked_again() -> None:
    assert hours_to_mark([at(13, 30)], LATENESS, marked_until=at(11), first_hour=at(10)) == []
    assert hours_to_mark([at(14, 0)], LATENESS, marked_until=at(11), first_hour=at(10)) == [at(12)]


def test_no_progress_means_nothing_is_complete() -> None:
    assert hours_to_mark([], LATENESS, None, first_hour=at(10)) == []


def test_markers_sit_in_their_hour_folder() -> None:
    assert marker_key("marketplace.chats", at(9)) == "raw/marketplace.chats/dt=2026-11-01/hr=09/_COMPLETE.json"
