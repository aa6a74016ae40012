"""The speed track's pure parts: the contract check of each Kafka record, and when an hour leaves the speed zone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa

from ingestion.contract import load_contract
from sluice.speed import expired
from spark_jobs.speed_events import parse_batch


def _records(*records: tuple[str, bytes]) -> pa.RecordBatch:
    topics, values = zip(*records, strict=True)
    return pa.RecordBatch.from_pydict({"topic": list(topics), "value": list(values)})


def _event(event_type: str, **fields: object) -> bytes:
    envelope = {"event_id": f"e-{event_type}", "event_type": event_type, "schema_version": 1,
                "event_time": "2026-11-27T09:30:00+09:00"}  # fmt: skip
    return json.dumps(envelope | fields).encode()


def test_valid_events_give_their_time_in_utc_their_actors_and_amounts() -> None:
    parsed = parse_batch(load_contract(), _records(
        ("marketplace.transactions", _event("transaction_completed", transaction_id=1, listing_id=2, buyer_id=3,
                                            seller_id=4, price=9000)),
        ("marketplace.listings", _event("listing_created", listing_id=2, seller_id=4, region_id=7,
                                        category="books", title="novel", price=7000)),
        ("marketplace.moderation", _event("moderation_decided", listing_id=2, label="normal")),
    )).to_pylist()  # fmt: skip
    at = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert [(p["valid"], p["event_type"], p["event_time"], p["actors"], p["region_id"], p["category"], p["amount"])
            for p in parsed] == [
        (True, "transaction_completed", at, [3, 4], None, None, 9000),
        (True, "listing_created", at, [4], 7, "books", 7000),
        (True, "moderation_decided", at, [], None, None, None),  # no user acted
    ]  # fmt: skip


def test_records_that_break_the_contract_are_marked_invalid() -> None:
    parsed = parse_batch(load_contract(), _records(
        ("marketplace.listings", b'{"event_id": "x", "event_ty'),  # cut off
        ("marketplace.listings", _event("listing_created", listing_id=2, seller_id=4, region_id=7,
                                        category="books", title="novel")),  # no price
        ("marketplace.chats", _event("message_sent", chat_id="1", sender_id=3)),  # chat_id not an integer
        ("marketplace.chats", _event("listing_viewed", listing_id=1, user_id=3)),  # on another event's topic
        ("marketplace.unknown", _event("listing_viewed", listing_id=1, user_id=3)),  # a topic of no contract
    )).to_pylist()  # fmt: skip
    assert [p["valid"] for p in parsed] == [False] * 5
    assert all(p["event_id"] is None and p["actors"] is None for p in parsed)


def test_an_hour_leaves_the_speed_zone_when_its_day_is_published_or_it_is_too_old() -> None:
    oldest = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert not expired({"dt": date(2026, 11, 27), "hr": 3}, set(), oldest)
    assert expired({"dt": date(2026, 11, 27), "hr": 3}, {date(2026, 11, 27)}, oldest)
    assert expired({"dt": date(2026, 11, 26), "hr": 11}, set(), oldest)
    assert not expired({"dt": date(2026, 11, 26), "hr": 12}, set(), oldest)
