"""The speed track on the real broker, Spark and S3 server, read back through the analysts' SQL endpoint: hand-made
events (with duplicates, late and malformed records) give hand-counted hourly totals in the serving views; a SIGKILL
mid-stream and a restart neither lose nor double-count; a published batch day replaces the speed rows by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from pyhive import hive
from pyspark.sql import SparkSession

from ingestion.contract import load_contract
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.speed import FAMILIES, read_progress
from sluice.stack.process import wait_until
from sluice.topics import create_pipeline_topics

STARTED = "speed track running"
ACTIVITY = ("active_users", "new_listings", "listing_views", "searches", "chats_started", "messages_sent",
            "transactions", "gmv", "reports")  # fmt: skip


@dataclass
class SpeedTrack:
    """`python -m spark_jobs.speed_track` on the test's own lake and schema, in its own process group."""

    settings: Settings
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "SLUICE_LAKE_BUCKET": self.settings.lake_bucket,
            "SLUICE_MARTS_SCHEMA": self.settings.marts_schema,
            "SLUICE_SPEED_LOOKBACK_HOURS": "0",  # only what this test sends from now on
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "spark_jobs.speed_track"], env=env, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        if not wait_until(lambda: STARTED in self.log.read_text() or self.process.poll() is not None, timeout=180):
            pytest.fail(f"the speed track did not start:\n{self.log.read_text()[-3000:]}")
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def log_tail(self) -> str:
        return f"the speed track's log ends:\n{self.log.read_text()[-6000:]}"

    def kill(self) -> None:
        """SIGKILL the job and everything it started (its JVM, Python workers), as when a pod dies."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.write_text(self.log.read_text().replace(STARTED, "(killed) " + STARTED))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def speed_lake(stack: Settings, unique: str, tmp_path: Path) -> Iterator[tuple[Settings, SpeedTrack]]:
    from sluice.stack import up

    settings = stack.model_copy(update={"lake_bucket": unique, "marts_schema": unique})
    s3_client(settings).create_bucket(Bucket=unique)
    up(settings)  # lets the SQL endpoint's read-only identity read this bucket too
    create_pipeline_topics(settings, load_contract().topics)
    track = SpeedTrack(settings, tmp_path / "speed.log")
    track.start()
    yield settings, track
    track.stop()


class Sender:
    """Hand-made events, JSON as the app sends them; `again` re-sends a record's exact bytes (a producer retry)."""

    def __init__(self, settings: Settings) -> None:
        self.producer = KafkaProducer(bootstrap_servers=settings.kafka_servers)
        self.sent: dict[str, tuple[str, bytes]] = {}
        self.count = 0

    def event(self, topic: str, event_type: str, at: datetime, **fields: Any) -> str:
        event_id = str(uuid.uuid4())
        event = {"event_id": event_id, "event_type": event_type, "event_time": at.isoformat(), "schema_version": 1}
        self.raw(topic, json.dumps(event | fields).encode())
        self.sent[event_id] = (topic, json.dumps(event | fields).encode())
        return event_id

    def again(self, event_id: str) -> None:
        self.raw(*self.sent[event_id])

    def raw(self, topic: str, value: bytes) -> None:
        self.producer.send(topic, value, key=b"k")
        self.count += 1

    def flush(self) -> None:
        self.producer.flush()


def view(settings: Settings, name: str) -> list[dict[str, Any]]:
    """The serving view as an analyst's client reads it: PyHive through the SQL endpoint."""
    with closing(hive.connect(host="127.0.0.1", port=settings.spark_thrift_port, username="analyst")) as connection:
        cursor = connection.cursor()
        cursor.execute(f"select * from {settings.marts_schema}.serving_{name} order by dt, hr")
        names = [column[0].split(".")[-1] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def activity(rows: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[Any, ...]]:
    return {(str(r["dt"]), r["hr"]): (*(r[name] for name in ACTIVITY), r["source"]) for r in rows}


def wait_for(read: Any, expected: Any, timeout: float = 120) -> Any:
    """Poll `read()` until it returns `expected`; the last value read otherwise."""
    last = None

    def matches() -> bool:
        nonlocal last
        last = read()
        return bool(last == expected)

    wait_until(matches, timeout=timeout, interval=1)
    return last


def progress(settings: Settings) -> dict[str, tuple[int, int]]:
    s3 = s3_client(settings)
    return {f.name: (p["records"], p["refused"]) for f in FAMILIES if (p := read_progress(s3, settings, f.name))}


def test_hourly_totals_equal_hand_counts_with_duplicates_late_and_malformed_records(speed_lake: Any) -> None:
    settings, track = speed_lake
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # H; the previous hour is P
    previous = hour - timedelta(hours=1)
    send = Sender(settings)
    listings, views, chats = "marketplace.listings", "marketplace.listings", "marketplace.chats"
    # On time. P: two listings (sellers 1, 2), two views by user 3 (one re-sent), a search by user 4.
    send.event(listings, "listing_created", previous + timedelta(minutes=50), listing_id=1, seller_id=1,
               region_id=3, category="digital", title="phone", price=10000)  # fmt: skip
    send.event(listings, "listing_created", previous + timedelta(minutes=51), listing_id=2, seller_id=2,
               region_id=3, category="digital", title="tablet", price=5000)  # fmt: skip
    retried = send.event(views, "listing_viewed", previous + timedelta(minutes=52), listing_id=1, user_id=3)
    send.again(retried)
    send.event(views, "listing_viewed", previous + timedelta(minutes=53), listing_id=1, user_id=3)
    send.event("marketplace.searches", "search_performed", previous + timedelta(minutes=54), search_id="s1",
               user_id=4, query="phone")  # fmt: skip
    send.raw(listings, b'{"event_id": "cut-off", "event_type": "listing_vie')  # malformed: cut off mid-write
    send.flush()
    # All of P counted before any of H is sent: a micro-batch that saw H first would leave P behind its watermark.
    # (Once, in CI, P's listings were missing from the by-region view while the activity view had them; the speed
    # track's log, now attached to a failure, will tell whether the family read H before P.)
    first = {(str(previous.date()), previous.hour): (4, 2, 2, 1, 0, 0, 0, 0, 0, "speed")}
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), first) == first, track.log_tail()
    listed_first = {(str(previous.date()), previous.hour, 3, "digital"): (2, 15000)}
    assert wait_for(lambda: by_region(settings), listed_first) == listed_first, track.log_tail()
    # H: a chat between buyer 3 and seller 1 ending in a sale, a listing in another region, a report, a decision.
    send.event(chats, "chat_started", hour + timedelta(minutes=1), chat_id=1, listing_id=1, buyer_id=3, seller_id=1)
    send.event(chats, "message_sent", hour + timedelta(minutes=2), chat_id=1, sender_id=3, length=10)
    send.event(chats, "message_sent", hour + timedelta(minutes=4), chat_id=1, sender_id=1, length=12)
    sale = send.event("marketplace.transactions", "transaction_completed", hour + timedelta(minutes=8),
                      transaction_id=1, listing_id=1, buyer_id=3, seller_id=1, price=9000)  # fmt: skip
    send.event(listings, "listing_created", hour + timedelta(minutes=9), listing_id=3, seller_id=5, region_id=7,
               category="books", title="novel", price=7000)  # fmt: skip
    send.event("marketplace.moderation", "report_filed", hour + timedelta(minutes=10), report_id=1, listing_id=2,
               reporter_id=6, reason="spam")  # fmt: skip
    send.event("marketplace.moderation", "moderation_decided", hour + timedelta(minutes=10), listing_id=2,
               label="spam", moderator_id=99)  # fmt: skip
    # malformed: a listing without its required price
    send.raw(listings, json.dumps({"event_id": "no-price", "event_type": "listing_created",
             "event_time": hour.isoformat(), "schema_version": 1, "listing_id": 9, "seller_id": 9,
             "region_id": 1, "category": "etc", "title": "x"}).encode())  # fmt: skip
    send.flush()

    on_time = {
        (str(previous.date()), previous.hour): (4, 2, 2, 1, 0, 0, 0, 0, 0, "speed"),  # users 1, 2, 3, 4
        (str(hour.date()), hour.hour): (4, 1, 0, 0, 1, 2, 1, 9000, 1, "speed"),  # users 1, 3, 5, 6
    }
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), on_time) == on_time, track.log_tail()

    listed = {
        (str(previous.date()), previous.hour, 3, "digital"): (2, 15000),
        (str(hour.date()), hour.hour, 7, "books"): (1, 7000),
    }
    assert wait_for(lambda: by_region(settings), listed) == listed, track.log_tail()

    # Each family's watermark comes from its own events, and Spark judges lateness by the watermark as the
    # micro-batch before had it; so one more batch must pass in both before the late records go: a listing at
    # H+10 (seller 4), which makes both watermarks H+00.
    send.event(listings, "listing_created", hour + timedelta(minutes=10), listing_id=5, seller_id=4, region_id=9,
               category="plants", title="fern", price=100)  # fmt: skip
    send.flush()
    ticked = {**on_time, (str(hour.date()), hour.hour): (5, 2, 0, 0, 1, 2, 1, 9000, 1, "speed")}  # + user 4
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), ticked) == ticked, track.log_tail()
    listed[(str(hour.date()), hour.hour, 9, "plants")] = (1, 100)
    assert wait_for(lambda: by_region(settings), listed) == listed, track.log_tail()

    # Now records at H+03 and H+05 are within the watermark and land in H; records from P (:45 and :58) are beyond
    # it and left to the batch track; the sale's retry is a duplicate within the watermark.
    send.event("marketplace.users", "user_signed_up", hour + timedelta(minutes=3), user_id=8, region_id=1)
    send.event(views, "listing_viewed", hour + timedelta(minutes=5), listing_id=3, user_id=9)
    send.again(sale)
    send.event(views, "listing_viewed", previous + timedelta(minutes=58), listing_id=1, user_id=10)
    send.event(listings, "listing_created", previous + timedelta(minutes=45), listing_id=4, seller_id=11,
               region_id=3, category="digital", title="camera", price=20000)  # fmt: skip
    send.flush()

    final = {
        (str(previous.date()), previous.hour): (4, 2, 2, 1, 0, 0, 0, 0, 0, "speed"),
        (str(hour.date()), hour.hour): (7, 2, 1, 0, 1, 2, 1, 9000, 1, "speed"),  # + users 8, 9; + one view
    }
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), final) == final, track.log_tail()
    # The activity family reads every topic: every record was read (so the late ones were seen and left out), and
    # the two malformed ones were refused.
    everything = (send.count, 2)
    assert wait_for(lambda: progress(settings)["activity_hourly"], everything) == everything, track.log_tail()
    assert activity(view(settings, "activity_hourly")) == final
    assert by_region(settings) == listed


def by_region(settings: Settings) -> dict[tuple[str, int, int, str], tuple[int, int]]:
    rows = view(settings, "new_listings_hourly")
    return {
        (str(r["dt"]), r["hr"], r["region_id"], r["category"]): (r["new_listings"], r["listed_value"]) for r in rows
    }


def test_a_published_batch_day_replaces_the_speed_rows_of_that_day(speed_lake: Any, spark: SparkSession) -> None:
    settings, _ = speed_lake
    now = datetime.now(UTC)
    yesterday, today = now - timedelta(days=1), now
    send = Sender(settings)
    for at, user in ((yesterday, 1), (yesterday, 2), (today, 3)):
        send.event("marketplace.searches", "search_performed", at, search_id=f"s{user}", user_id=user, query="q")
    send.flush()
    # The first batch sets no watermark yet, so yesterday's events count too.
    speed_rows = {
        (str(yesterday.date()), yesterday.hour): (2, 0, 0, 2, 0, 0, 0, 0, 0, "speed"),
        (str(today.date()), today.hour): (1, 0, 0, 1, 0, 0, 0, 0, 0, "speed"),
    }
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), speed_rows) == speed_rows

    # The batch track publishes yesterday: hand-made rows that differ from the speed track's.
    table = f"{settings.marts_schema}.mart_activity_hourly"
    spark.sql(
        f"insert overwrite table {table} partition (dt = date'{yesterday.date()}') "
        "values (3, 5, 1, 2, 3, 4, 5, 6, 7000, 1), (4, 1, 0, 0, 1, 0, 0, 0, 0, 0)"
    )
    switched = {
        (str(yesterday.date()), 3): (5, 1, 2, 3, 4, 5, 6, 7000, 1, "batch"),
        (str(yesterday.date()), 4): (1, 0, 0, 1, 0, 0, 0, 0, 0, "batch"),
        (str(today.date()), today.hour): (1, 0, 0, 1, 0, 0, 0, 0, 0, "speed"),
    }
    assert activity(view(settings, "activity_hourly")) == switched


def test_a_sigkill_mid_stream_and_a_restart_neither_lose_nor_double_count(speed_lake: Any) -> None:
    settings, track = speed_lake
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    send = Sender(settings)
    users, views_per_user = 40, 50  # 2,000 views in H by 40 users, sent over about 20 seconds
    done = threading.Event()

    def stream() -> None:
        for n in range(users * views_per_user):
            at = hour + timedelta(seconds=n % 3600)
            send.event("marketplace.listings", "listing_viewed", at, listing_id=n, user_id=1000 + n % users)
            if n % 100 == 99:
                send.flush()
                time.sleep(1)
        send.flush()
        done.set()

    sender = threading.Thread(target=stream)
    sender.start()
    assert wait_until(lambda: view(settings, "activity_hourly"), timeout=120, interval=1), "nothing counted"
    track.kill()  # mid-stream: the sender goes on while the job is down
    time.sleep(3)
    track.start()
    sender.join()
    assert done.is_set()

    expected = {(str(hour.date()), hour.hour): (users, 0, users * views_per_user, 0, 0, 0, 0, 0, 0, "speed")}
    assert wait_for(lambda: activity(view(settings, "activity_hourly")), expected, timeout=180) == expected
