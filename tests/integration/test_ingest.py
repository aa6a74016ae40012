import json
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ingestion.contract import load_contract
from ingestion.sink import Counters, Sink
from sluice.lake import ingest_progress_key
from sluice.objectstore import s3_client
from sluice.settings import Settings
from tests.integration.lake_readers import end_offsets, read_deadletters, read_raw

MALFORMED = [
    b"{this is not json",
    json.dumps({"event_id": "m2", "event_type": "listing_viewed", "schema_version": 1, "user_id": 1}).encode(),
    json.dumps(
        {
            "event_id": "m3",
            "event_type": "message_sent",
            "event_time": "2026-11-01T10:00:00Z",
            "schema_version": 1,
            "chat_id": "seven",
            "sender_id": 1,
        }
    ).encode(),
]


def _event(i: int, unique: str) -> tuple[str, bytes, bytes]:
    """Listing views and chat messages spread over three hours of 2026-11-01."""
    base = {
        "event_id": f"{unique}-{i}",
        "event_time": f"2026-11-01T{10 + i % 3}:{i % 60:02d}:00+00:00",
        "schema_version": 1,
    }
    if i % 2:
        event = {**base, "event_type": "message_sent", "chat_id": i % 40, "sender_id": i}
        return "marketplace.chats", str(i % 40).encode(), json.dumps(event).encode()
    event = {**base, "event_type": "listing_viewed", "listing_id": i % 25, "user_id": i}
    return "marketplace.listings", str(i % 25).encode(), json.dumps(event).encode()


def test_ingest_lands_exactly_the_produced_events_and_dead_letters_the_bad_ones(lake: Settings, unique: str) -> None:
    dlq_start = end_offsets(lake, [lake.deadletter_topic])
    producer = KafkaProducer(bootstrap_servers=lake.kafka_servers, acks="all", enable_idempotence=True)
    sent = [_event(i, unique) for i in range(3000)]
    for topic, key, value in sent:
        producer.send(topic, key=key, value=value)
    for value in MALFORMED:
        producer.send("marketplace.chats" if b"message_sent" in value else "marketplace.listings", value=value)
    producer.flush()
    producer.close()

    sink = Sink(lake, load_contract())
    counters = sink.run(until=lambda c: c.written + c.dead_lettered >= len(sent) + len(MALFORMED))

    raw = read_raw(lake)
    assert Counter(raw.column("event_id").to_pylist()) == Counter(f"{unique}-{i}" for i in range(3000))
    assert sorted(raw.column("value").to_pylist()) == sorted(value.decode() for _, _, value in sent)
    # Each Kafka record once: event types map one to one onto the two topics here.
    coordinates = zip(
        *(raw.column(c).to_pylist() for c in ("event_type", "kafka_partition", "kafka_offset")), strict=True
    )
    assert len(set(coordinates)) == 3000

    letters = read_deadletters(lake, dlq_start)
    assert sorted(value for value, _ in letters) == sorted(MALFORMED)
    reasons = {value: headers for value, headers in letters}
    assert "malformed" in reasons[MALFORMED[0]]["reason"]
    assert reasons[MALFORMED[1]]["reason"] == "Object missing required field `event_time`"
    assert "`$.chat_id`" in reasons[MALFORMED[2]]["reason"]
    assert reasons[MALFORMED[2]]["source_topic"] == "marketplace.chats"
    assert int(reasons[MALFORMED[2]]["source_offset"]) >= 0
    assert counters.dead_lettered == 3


class _Crash(Exception):
    pass


class _DiesBeforeItsCommit(Sink):
    """A worker that dies after writing its first batches' objects, before the transaction that commits them."""

    def _commit(self, *_: object) -> None:
        time.sleep(1.5)  # the replay below must start at a later clock time than these objects' ingestion
        raise _Crash


def test_a_batch_replayed_by_the_next_owner_rewrites_byte_identical_objects(lake: Settings, unique: str) -> None:
    """Whoever writes a batch's objects last, a replaying owner or a zombie resuming its flush, the content is the
    same: the intent pins the batch's end and its ingestion time."""
    producer = KafkaProducer(bootstrap_servers=lake.kafka_servers, acks="all", enable_idempotence=True)
    for topic, key, value in (_event(i, unique) for i in range(600)):
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    s3 = s3_client(lake)

    def bodies() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=lake.lake_bucket, Prefix="raw/").get("Contents", [])
        keys = [item["Key"] for item in listed if item["Key"].endswith(".parquet")]
        return {key: s3.get_object(Bucket=lake.lake_bucket, Key=key)["Body"].read() for key in keys}

    with pytest.raises(_Crash):
        _DiesBeforeItsCommit(lake, load_contract()).run(until=lambda c: c.consumed >= 600)
    first = bodies()
    assert first, "the crashed worker wrote no object"

    Sink(lake, load_contract()).run(until=lambda c: c.written >= 600)
    again = bodies()
    assert {key: again.get(key) for key in first} == first  # overwritten with the same bytes
    assert Counter(read_raw(lake).column("event_id").to_pylist()) == Counter(f"{unique}-{i}" for i in range(600))


def test_objects_are_partitioned_by_event_hour(lake: Settings, unique: str) -> None:
    producer = KafkaProducer(bootstrap_servers=lake.kafka_servers, acks="all")
    for i in range(30):
        topic, key, value = _event(2 * i, unique)  # listing views only, hours 10, 11 and 12
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    Sink(lake, load_contract()).run(until=lambda c: c.written >= 30)

    from sluice.objectstore import s3_client

    listed = s3_client(lake).list_objects_v2(Bucket=lake.lake_bucket, Prefix="raw/")["Contents"]
    keys = [item["Key"] for item in listed if item["Key"].endswith(".parquet")]
    hours = {key.split("/")[3] for key in keys}
    assert hours == {"hr=10", "hr=11", "hr=12"}
    assert all(key.startswith("raw/marketplace.listings/dt=2026-11-01/") for key in keys)


def _views(unique: str, times: list[str], tag: str) -> list[tuple[str, bytes, bytes]]:
    """Listing views at the given times, keyed over 12 listings so every partition gets some."""
    return [
        (
            "marketplace.listings",
            str(i % 12).encode(),
            json.dumps(
                {
                    "event_id": f"{unique}-{tag}-{i}",
                    "event_type": "listing_viewed",
                    "event_time": moment,
                    "schema_version": 1,
                    "listing_id": i % 12,
                    "user_id": i,
                }
            ).encode(),
        )
        for i, moment in enumerate(times)
    ]


def _send(settings: Settings, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    for topic, key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def _marker(settings: Settings, hour: int) -> dict | None:  # type: ignore[type-arg]
    from sluice.objectstore import s3_client

    key = f"raw/marketplace.listings/dt=2026-11-01/hr={hour:02d}/_COMPLETE.json"
    try:
        return json.loads(s3_client(settings).get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read())
    except Exception:  # noqa: BLE001 - absent marker
        return None


def test_complete_hours_get_a_manifest_and_late_events_reopen_theirs(lake: Settings, unique: str) -> None:
    # 10:xx has 24 events, 11:xx 36, 12:xx 12; every partition then reaches 14:30, so with an hour of
    # lateness the watermark is 13:30: hours 10-12 are complete, 13 and 14 are not.
    first = (
        [f"2026-11-01T10:{m:02d}:00+00:00" for m in range(24)]
        + [f"2026-11-01T11:{m:02d}:00+00:00" for m in range(36)]
        + [f"2026-11-01T12:{m:02d}:00+00:00" for m in range(12)]
        + ["2026-11-01T14:30:00+00:00"] * 24
    )
    _send(lake, _views(unique, first, "a"))
    Sink(lake, load_contract()).run(until=lambda c: c.written >= len(first))

    markers = {hour: _marker(lake, hour) for hour in range(10, 15)}
    assert {hour for hour, marker in markers.items() if marker} == {10, 11, 12}
    assert [markers[h]["rows"] for h in (10, 11, 12)] == [24, 36, 12]  # type: ignore[index]
    ten = markers[10]
    assert ten is not None
    assert ten["version"] == 1
    assert sum(o["rows"] for o in ten["objects"]) == 24
    assert all(o["key"].endswith(".parquet") and o["first_offset"] <= o["last_offset"] for o in ten["objects"])

    late = ["2026-11-01T11:59:00+00:00"] + ["2026-11-01T15:45:00+00:00"] * 24
    _send(lake, _views(unique, late, "b"))
    Sink(lake, load_contract()).run(until=lambda c: c.written >= len(late))

    eleven = _marker(lake, 11)
    assert eleven is not None
    assert (eleven["version"], eleven["rows"]) == (2, 37)
    assert _marker(lake, 13) is not None
    assert _marker(lake, 14) is None


class _DiesBeforeItsMarkers(Sink):
    """A worker that dies right after the commit of a batch that landed events, before it marks their hours."""

    def _mark_complete(self, landed: list[Any], force: bool) -> None:
        if landed:
            raise _Crash
        super()._mark_complete(landed, force)


def test_a_late_event_whose_worker_died_before_marking_its_hour_again_is_in_the_next_owners_marker(
    lake: Settings, unique: str
) -> None:
    first = [f"2026-11-01T11:{m:02d}:00+00:00" for m in range(36)] + ["2026-11-01T14:30:00+00:00"] * 24
    _send(lake, _views(unique, first, "a"))
    Sink(lake, load_contract()).run(until=lambda c: c.written >= len(first))
    eleven = _marker(lake, 11)
    assert eleven is not None
    assert (eleven["version"], eleven["rows"]) == (1, 36)

    _send(lake, _views(unique, ["2026-11-01T11:59:00+00:00"], "late"))
    with pytest.raises(_Crash):
        _DiesBeforeItsMarkers(lake, load_contract()).run()
    assert _marker(lake, 11) == eleven  # committed, yet not in the marker

    _ingest_until_idle(lake, 0, _listing_partitions(lake))  # the next owner: nothing left to read
    eleven = _marker(lake, 11)
    assert eleven is not None
    assert (eleven["version"], eleven["rows"]) == (2, 37)
    assert Counter(read_raw(lake).column("event_id").to_pylist())[f"{unique}-late-0"] == 1


def _views_at(unique: str, partition: int, times: list[str], tag: str) -> list[tuple[int, bytes]]:
    """Listing views at the given times of 2026-11-01 ("HH:MM"), all for one partition."""
    return [
        (
            partition,
            json.dumps(
                {
                    "event_id": f"{unique}-{tag}-p{partition}-{i}",
                    "event_type": "listing_viewed",
                    "event_time": f"2026-11-01T{moment}:00+00:00",
                    "schema_version": 1,
                    "listing_id": i,
                    "user_id": i,
                }
            ).encode(),
        )
        for i, moment in enumerate(times)
    ]


def _every(start: str, end: str, minutes: int) -> list[str]:
    moment, last = datetime.fromisoformat(f"2026-11-01T{start}"), datetime.fromisoformat(f"2026-11-01T{end}")
    times = []
    while moment <= last:
        times.append(f"{moment:%H:%M}")
        moment += timedelta(minutes=minutes)
    return times


def _send_to_partitions(settings: Settings, records: list[tuple[int, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    for partition, value in records:
        producer.send("marketplace.listings", value=value, partition=partition)
    producer.flush()
    producer.close()


def _ingest_until_idle(settings: Settings, records: int, partitions: int) -> Counters:
    """Run a sink on marketplace.listings until it wrote `records` and all its partitions are idle (or 120 s)."""
    deadline = time.monotonic() + 120
    sink = Sink(settings, load_contract(), topics=["marketplace.listings"])
    counters = sink.run(
        until=lambda c: (c.written >= records and c.idle_partitions == partitions) or time.monotonic() > deadline
    )
    assert (counters.written, counters.idle_partitions) == (records, partitions)
    return counters


def _listing_partitions(settings: Settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    try:
        return len(consumer.partitions_for_topic("marketplace.listings") or ())
    finally:
        consumer.close()


def _progress(settings: Settings, partition: int) -> dict:  # type: ignore[type-arg]
    key = ingest_progress_key("marketplace.listings", partition)
    return dict(json.loads(s3_client(settings).get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read()))


def test_idle_partitions_stop_holding_back_the_markers(lake: Settings, unique: str) -> None:
    partitions = _listing_partitions(lake)
    assert partitions >= 5
    # p0 stops early at 10:40; the newest event, 16:20, is in p2; p4 and up get nothing and do not count.
    sent = (
        _views_at(unique, 0, _every("10:00", "10:40", 10), "a")
        + _views_at(unique, 1, _every("10:05", "12:50", 15), "a")
        + _views_at(unique, 2, _every("10:20", "16:20", 20), "a")
        + _views_at(unique, 3, _every("13:00", "14:15", 5), "a")
    )
    _send_to_partitions(lake, sent)

    # Without idleness p0 holds the watermark at 09:40: nothing is complete.
    Sink(lake.model_copy(update={"ingest_idle_seconds": 3600.0}), load_contract(), topics=["marketplace.listings"]).run(
        until=lambda c: c.written >= len(sent)
    )
    assert not any(_marker(lake, hour) for hour in range(10, 17))

    # A new sink gets no records at all; once it has waited out the idle time on every partition the topic is
    # caught up: 16:20 less an hour of lateness is 15:20, so hours 10-14 are complete, 15 and 16 are not.
    quick = lake.model_copy(update={"ingest_idle_seconds": 1.0})
    _ingest_until_idle(quick, 0, partitions)
    markers = {hour: _marker(lake, hour) for hour in range(10, 17)}
    assert {hour for hour, marker in markers.items() if marker} == {10, 11, 12, 13, 14}
    per_hour = Counter(int(json.loads(value)["event_time"][11:13]) for _, value in sent)
    assert {hour: marker["rows"] for hour, marker in markers.items() if marker} == {
        h: per_hour[h] for h in range(10, 15)
    }
    assert {marker["watermark"] for marker in markers.values() if marker} == {"2026-11-01T15:20:00+00:00"}
    assert [_progress(lake, p)["idle"] for p in range(4)] == [True] * 4
    listed = s3_client(lake).list_objects_v2(
        Bucket=lake.lake_bucket, Prefix=ingest_progress_key("marketplace.listings", 4)
    )
    assert "Contents" not in listed

    # p0 wakes up with a late event at 11:30 and one at 17:50: hour 11 is rewritten, and once p0 is idle again
    # the watermark is 16:50, which completes 15 but not 16.
    late = _views_at(unique, 0, ["11:30", "17:50"], "b")
    _send_to_partitions(lake, late)
    _ingest_until_idle(quick, len(late), partitions)
    eleven = _marker(lake, 11)
    assert eleven is not None
    assert (eleven["version"], eleven["rows"]) == (2, per_hour[11] + 1)
    assert _marker(lake, 15) is not None
    assert _marker(lake, 16) is None


def test_records_the_sink_has_not_fetched_keep_a_partition_active(lake: Settings, unique: str) -> None:
    # While fetching stalls (paused here; after a broker restart, for one) the high watermark of the last fetch
    # is stale: the end offset the broker gives shows the waiting records, and the partition is not idle.
    partitions = _listing_partitions(lake)
    _send_to_partitions(lake, _views_at(unique, 0, ["10:00"], "a"))
    sink = Sink(lake.model_copy(update={"ingest_idle_seconds": 1.0}), load_contract(), topics=["marketplace.listings"])
    p0 = TopicPartition("marketplace.listings", 0)
    deadline, stalled = time.monotonic() + 120, []

    def until(counters: Counters) -> bool:
        if not stalled and counters.idle_partitions == partitions:
            sink.consumer.pause(p0)
            _send_to_partitions(lake, _views_at(unique, 0, ["11:00"], "b"))
            stalled.append(time.monotonic())
        return (bool(stalled) and time.monotonic() - stalled[0] > 5) or time.monotonic() > deadline

    counters = sink.run(until=until)
    assert stalled, "the partitions never became idle"
    assert counters.idle_partitions == partitions - 1
    assert _progress(lake, 0) == {"latest_event": "2026-11-01T10:00:00+00:00", "idle": False}
