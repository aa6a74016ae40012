"""Completeness markers: when the raw zone holds everything for an hour, say so, with a manifest.

Each sink worker records, per partition it owns, the latest event time it has committed and whether the
partition is idle (`_state/ingest/<topic>/p<N>.json`: `{"latest_event": ..., "idle": false}`). A partition
is idle once the sink has read it to its end, holds nothing of it unflushed, and has stayed so for
`ingest_idle_seconds`; records arriving again make it active. A topic's watermark (`topic_watermark`) is
the earliest latest event of its active partitions, less the allowed lateness: idle partitions do not hold
it back. When every partition is idle the topic is caught up and the watermark is its newest event, less
the lateness. Partitions that never received a record have no progress document and do not count.

The same two facts per partition, its latest event and the first day it wrote, also ride on the sink's Kafka
commits (ingestion/sink.py): a worker that dies before it publishes loses nothing, as the partition's next owner
restores them from the commit.

Every hour wholly before the watermark gets `raw/<topic>/dt=.../hr=.../_COMPLETE.json` listing the hour's
objects, their row counts and offset ranges. Downstream jobs wait for that file. A late event that still
lands in a completed hour (also one from a partition that was idle) rewrites the hour's marker, with a
higher version. Such a reopened hour is as durable as the commit that landed it: the commit carries it until a
publish has marked it again, and the partition's next owner restores it (`restore`). Whether an hour is marked
is asked of the lake after the batch's objects are uploaded (`marked_until`), and a worker lists each hour it newly
marked once more after saving that (`advance`): between the two, another worker's objects land in a marker.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from sluice import lake
from sluice.objectstore import S3Client, list_objects
from sluice.settings import Settings

HOUR = timedelta(hours=1)
log = logging.getLogger("sluice.ingest")


class TimeUp(Exception):
    """The caller's time ran out before every due marker was written; the state has not moved."""


def missing_hours(s3: S3Client, bucket: str, topic: str, day: date) -> list[int]:
    """The hours of `day` (UTC) that have no completeness marker yet, in order."""
    keys = (item["Key"] for item in list_objects(s3, bucket, lake.raw_day_prefix(topic, day)))
    marked = {lake.parse_raw_key(key).hour.hour for key in keys if lake.is_marker(key)}
    return sorted(set(range(24)) - marked)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Progress:
    """One partition's progress document: the latest event time committed and whether it is idle."""

    latest_event: datetime
    idle: bool = False

    @classmethod
    def parse(cls, document: dict[str, Any]) -> Progress:
        return cls(datetime.fromisoformat(document["latest_event"]), bool(document.get("idle", False)))

    def document(self) -> dict[str, Any]:
        return {"latest_event": self.latest_event.isoformat(), "idle": self.idle}


def topic_watermark(partitions: Iterable[Progress], lateness: timedelta) -> datetime | None:
    """The earliest latest event of the active partitions less the lateness; when all are idle, the newest.

    None while no partition has progress: nothing is known to be complete.
    """
    progress = list(partitions)
    if not progress:
        return None
    active = [p.latest_event for p in progress if not p.idle]
    # An idle partition has nothing more to say; if none is active the topic is caught up to its newest event.
    return (min(active) if active else max(p.latest_event for p in progress)) - lateness


def hours_to_mark(watermark: datetime | None, marked_until: datetime | None, first_hour: datetime) -> list[datetime]:
    """Hours that became complete: all of them end before the watermark and none is marked yet."""
    if watermark is None:
        return []
    hour = marked_until + HOUR if marked_until else first_hour
    hours = []
    while hour + HOUR <= watermark:
        hours.append(hour)
        hour += HOUR
    return hours


@dataclass
class TopicState:
    first_hour: datetime | None = None
    marked_until: datetime | None = None  # the last hour with a marker
    saved_first_hour: datetime | None = None  # first_hour as markers.json has it
    marked_from: datetime | None = None  # the first hour with a marker: hours from there to marked_until all have one


class Completeness:
    """Keeps one worker's partition progress in the lake and writes the markers it makes due."""

    def __init__(self, settings: Settings, s3: S3Client) -> None:
        self.settings, self.s3 = settings, s3
        self.bucket = settings.lake_bucket
        self.lateness = timedelta(minutes=settings.ingest_allowed_lateness_minutes)
        self.progress: dict[tuple[str, int], Progress | None] = {}  # None: the partition never had a record
        self.topics: dict[str, TopicState] = {}
        self.reopened: set[tuple[str, datetime]] = set()
        self.unsaved: set[tuple[str, int]] = set()  # partitions whose progress is newer in memory than in the lake
        self.pending: set[str] = set()  # topics whose markers may be due; kept until their markers are written

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return dict(json.loads(body))

    def _put(self, key: str, document: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(document, indent=1).encode())

    def _state(self, topic: str) -> TopicState:
        if topic not in self.topics:
            saved = self._get(lake.ingest_marker_state_key(topic)) or {}
            first, marked, marked_from = (
                datetime.fromisoformat(saved[k]) if saved.get(k) else None
                for k in ("first_hour", "marked_until", "marked_from")
            )
            # A state saved before marked_from existed marked from its first hour on.
            self.topics[topic] = TopicState(first, marked, first, marked_from or (first if marked else None))
        return self.topics[topic]

    def _save_state(self, topic: str) -> None:
        state = self.topics[topic]
        assert state.first_hour is not None
        marked, marked_from = (hour.isoformat() if hour else None for hour in (state.marked_until, state.marked_from))
        document = {"first_hour": state.first_hour.isoformat(), "marked_until": marked, "marked_from": marked_from}
        self._put(lake.ingest_marker_state_key(topic), document)
        state.saved_first_hour = state.first_hour

    def _progress(self, topic: str, partition: int) -> Progress | None:
        key = (topic, partition)
        if key not in self.progress:
            saved = self._get(lake.ingest_progress_key(topic, partition))
            self.progress[key] = Progress.parse(saved) if saved else None
        return self.progress[key]

    def forget(self, topic: str, partition: int) -> None:
        """A partition was (re)assigned: another worker may have written its progress meanwhile, so reread it."""
        if (topic, partition) not in self.unsaved:
            self.progress.pop((topic, partition), None)

    def marked_until(self, topic: str) -> datetime | None:
        """The last hour with a marker as the lake has it now: another worker of the topic may have marked more since
        this one last looked. Falls back to what this worker knows when the lake cannot be read."""
        try:
            known = self._state(topic).marked_until
            saved = (self._get(lake.ingest_marker_state_key(topic)) or {}).get("marked_until")
        except (BotoCoreError, ClientError) as error:
            log.warning("could not read the marker state of %s (%s)", topic, error)
            return self.topics[topic].marked_until if topic in self.topics else None
        return max(filter(None, (known, datetime.fromisoformat(saved) if saved else None)), default=None)

    def committed(self, topic: str, partition: int, hours: Iterable[datetime], latest_event: datetime) -> None:
        """Note a committed batch: the hours it wrote to and the latest event time it held (saved by publish)."""
        state = self._state(topic)
        for hour in hours:
            # Marking starts at midnight of the first day with data, so that every day downstream jobs read has
            # all 24 markers, including the empty hours before a quiet topic's first event.
            day = hour.replace(hour=0)
            state.first_hour = min(state.first_hour or day, day)
            if state.marked_until and hour <= state.marked_until:
                self.reopened.add((topic, hour))
        known = self._progress(topic, partition)
        latest = max(known.latest_event, latest_event) if known else latest_event
        self.progress[topic, partition] = Progress(latest, idle=False)
        self.unsaved.add((topic, partition))
        self.pending.add(topic)

    def reopen(self, topic: str, hours: Iterable[datetime]) -> None:
        """Hours a committed batch landed in that had a marker already: the next publish marks them again."""
        self.reopened |= {(topic, hour) for hour in hours}

    def restore(
        self, topic: str, partition: int, latest_event: datetime, first_day: datetime, reopened: Iterable[datetime] = ()
    ) -> None:
        """What Kafka's commit of a (re)assigned partition says it holds: progress, and hours to mark again, that a
        worker that died before it published would otherwise take with it."""
        self.reopen(topic, reopened)  # first: held in memory whatever the lake says below
        state = self._state(topic)
        state.first_hour = min(state.first_hour or first_day, first_day)
        known = self._progress(topic, partition)
        if known is None or known.latest_event < latest_event:
            self.progress[topic, partition] = Progress(latest_event, idle=False)
            self.unsaved.add((topic, partition))
        self.pending.add(topic)

    def arrived(self, topic: str, partition: int) -> None:
        """Records arrived for a partition: if it was idle, it holds its topic's watermark back again."""
        known = self._progress(topic, partition)
        if known and known.idle:
            known.idle = False
            self.unsaved.add((topic, partition))

    def idle(self, topic: str, partition: int) -> None:
        """The sink has read a partition to its end and holds nothing of it: it stops holding the watermark back."""
        known = self._progress(topic, partition)
        if known is None:
            return  # never had a record: it does not count anyway
        if not known.idle:
            known.idle = True
            self.unsaved.add((topic, partition))
        self.pending.add(topic)  # also when already idle: a restarted worker checks what is due once

    def publish(self, time_up: Callable[[], bool] = lambda: False) -> int:
        """Save the progress noted since the last call, then write the markers it makes due; returns how many. Once
        `time_up()`, the markers not yet written wait for the next publish (this worker's or the next owner's)."""
        for topic in sorted({topic for topic, _ in self.unsaved}):
            state = self._state(topic)
            if state.first_hour is not None and state.first_hour != state.saved_first_hour:
                self._save_state(topic)  # before the progress: a restarted worker must know where marking starts
        for key in sorted(self.unsaved):
            if (progress := self.progress.get(key)) is not None:
                self._put(lake.ingest_progress_key(*key), progress.document())
        self.unsaved.clear()
        self.pending |= {topic for topic, _ in self.reopened}
        marked = 0
        for topic in sorted(self.pending):
            try:
                marked += len(self.advance(topic, time_up))
            except TimeUp:
                break
            self.pending.discard(topic)  # only now: a failed advance is retried by the next publish
        return marked

    def advance(self, topic: str, time_up: Callable[[], bool] = lambda: False) -> list[datetime]:
        """Write the markers that are due for a topic; returns the hours (re)marked. Raises TimeUp once `time_up()`
        before all are written: the state moves only when all are."""
        state = self._state(topic)
        if state.first_hour is None:
            return []
        partitions = list_objects(self.s3, self.bucket, lake.ingest_progress_prefix(topic))
        documents = [self._get(item["Key"]) for item in partitions]
        watermark = topic_watermark((Progress.parse(doc) for doc in documents if doc), self.lateness)
        due = set(hours_to_mark(watermark, state.marked_until, state.first_hour))
        if state.marked_from and state.first_hour < state.marked_from and watermark and watermark >= state.marked_from:
            # History older than the first marked day arrived (a replay into Kafka after the sink started), and the
            # watermark is past it again: its empty hours get their markers too, not only those with records.
            due |= set(hours_to_mark(state.marked_from, None, state.first_hour))
        # Every hour from marked_from to marked_until now has a marker; a reopened hour says nothing about its
        # neighbours, so it moves neither.
        contiguous = sorted(due)
        due |= {hour for t, hour in self.reopened if t == topic}
        listed = {}
        for hour in sorted(due):
            if time_up():
                raise TimeUp
            listed[hour] = self._write_marker(topic, hour, watermark)
        self.reopened = {(t, h) for t, h in self.reopened if t != topic}
        if contiguous:
            state.marked_until = max(state.marked_until or contiguous[-1], contiguous[-1])
            state.marked_from = min(state.marked_from or contiguous[0], contiguous[0])
            self._save_state(topic)
            # Another worker that uploaded into one of these hours and then asked the lake before the save above
            # found it unmarked, so will not mark it again: its objects are in this second listing.
            for hour in contiguous:
                if self._listed(topic, hour) != listed[hour]:
                    self._write_marker(topic, hour, watermark)
        return sorted(due)

    def _object_facts(self, key: str) -> dict[str, int]:
        """Rows and offsets the sink stored as object metadata; rows from the Parquet footer otherwise."""
        meta = self.s3.head_object(Bucket=self.bucket, Key=key)["Metadata"]
        if "rows" in meta:
            return {name: int(value) for name, value in meta.items()}
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return {"rows": pq.ParquetFile(io.BytesIO(body)).metadata.num_rows}

    def _listed(self, topic: str, hour: datetime) -> set[str]:
        return _object_keys(list_objects(self.s3, self.bucket, lake.raw_hour_prefix(topic, hour)))

    def _write_marker(self, topic: str, hour: datetime, watermark: datetime | None) -> set[str]:
        """Write the hour's marker; returns the keys of the objects it listed."""
        key, folder = lake.marker_key(topic, hour), lake.raw_hour_prefix(topic, hour)
        listed = list(list_objects(self.s3, self.bucket, folder))  # a busy hour holds thousands: every page
        previous = self._get(key)
        # A compacted object keeps the list of the objects it replaced (ingestion/compaction.py); one of those still
        # here is left over from an interrupted compaction, which deletes it next time, and holds no rows of its own.
        lineage = {o["key"]: o["compacted_from"] for o in (previous or {}).get("objects", []) if "compacted_from" in o}
        replaced = {old["key"] for objects in lineage.values() for old in objects}
        objects = []
        for item in listed:
            if item["Key"].endswith(".parquet") and item["Key"] not in replaced:
                facts = {"key": item["Key"], "bytes": item["Size"], **self._object_facts(item["Key"])}
                objects.append({**facts, "compacted_from": lineage[item["Key"]]} if item["Key"] in lineage else facts)
        self._put(
            key,
            {
                "topic": topic,
                "hour": hour.isoformat(),
                "version": (previous["version"] + 1) if previous else 1,
                "marked_at": datetime.now(UTC).isoformat(),
                "watermark": watermark.isoformat() if watermark else None,
                "rows": sum(o["rows"] for o in objects),
                "objects": objects,
            },
        )
        return _object_keys(listed)


def _object_keys(listed: Iterable[dict[str, Any]]) -> set[str]:
    """The keys of a listed hour's objects (not its marker)."""
    return {item["Key"] for item in listed if item["Key"].endswith(".parquet")}
