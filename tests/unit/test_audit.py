"""The audit's pieces that need no stack: which staging model keeps each event type, what counts as a late arrival,
and how a report names its first failure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from ingestion.contract import load_contract
from sluice.audit import Check, Report, late_arrivals, staging_models
from sluice.marts.project import load_project


def test_every_event_type_of_the_contract_has_the_staging_model_its_sql_filters_on() -> None:
    assert staging_models(load_project()) == {  # by hand, from marts/staging/*.sql
        "user_signed_up": "stg_users",
        "listing_created": "stg_listings",
        "listing_viewed": "stg_listing_views",
        "search_performed": "stg_searches",
        "chat_started": "stg_chats",
        "message_sent": "stg_messages",
        "reservation_made": "stg_reservations",
        "transaction_completed": "stg_transactions",
        "report_filed": "stg_reports",
        "moderation_decided": "stg_moderation_decisions",
    }
    assert set(staging_models(load_project())) == set(load_contract().events)


def test_a_record_is_late_when_its_partition_already_had_one_newer_by_more_than_the_lateness() -> None:
    at = datetime(2026, 11, 26, 10, tzinfo=UTC)
    minutes = [0, 90, 20, 95, 40, 10]  # partition 0 in offset order, then partition 1
    events = pa.table({
        "event_time": pa.array([at + timedelta(minutes=m) for m in minutes], pa.timestamp("us", tz="UTC")),
        "kafka_partition": pa.array([0, 0, 0, 0, 1, 1], pa.int32()),
        "kafka_offset": pa.array([5, 6, 7, 8, 3, 2], pa.int64()),  # partition 1 stored out of offset order
    })  # fmt: skip
    # p0: :20 came after :90 (70 min newer: late); :95 is new. p1: offset 2 (:10) came first, then :40: on time.
    assert late_arrivals(events, timedelta(hours=1)).to_pylist() == [False, False, True, False, False, False]
    assert late_arrivals(events, timedelta(minutes=75)).to_pylist() == [False] * 6


def test_a_report_names_its_first_failing_link() -> None:
    report = Report(date(2026, 11, 26), [
        Check("kafka", "t", 6, 6),
        Check("markers", "t", 10, 9, "1 object(s) the markers list are not in the raw zone, e.g. k"),
        Check("marts", "m.gmv", 5, 4),
    ])  # fmt: skip
    failure = report.first_failure()
    assert failure is not None
    assert failure.link == "markers"
    assert report.table().splitlines()[-1] == (
        "FAILED at markers (t): 1 object(s) the markers list are not in the raw zone, e.g. k"
    )
