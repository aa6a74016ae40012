"""Completeness markers: when the raw zone holds everything for an hour, say so, with a manifest.

Each sink worker records, per partition it owns, the latest event time it has committed
(`_state/ingest/<topic>/p<N>.json`). A topic's watermark is the earliest of those, less the allowed
lateness; every hour wholly before it gets `raw/<topic>/dt=.../hr=.../_COMPLETE.json` listing the
hour's objects, their row counts and offset ranges. Downstream jobs wait for that file. A late event
that still lands in a completed hour rewrites the hour's marker, with a higher version.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq

from sluice.objectstore import S3Client
from sluice.settings import Settings

HOUR = timedelta(hours=1)


def marker_key(topic: str, hour: datetime) -> str:
    return f"raw/{topic}/dt={hour:%Y-%m-%d}/hr={hour:%H}/_COMPLETE.json"


def progress_key(topic: str, partition: int) -> str:
    return f"_state/ingest/{topic}/p{partition:04d}.json"


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours_to_mark(
    latest_by_partition: Iterable[datetime], lateness: timedelta, marked_until: datetime | None, first_hour: datetime
) -> list[datetime]:
    """Hours that became complete: all of them end before the watermark and none is marked yet."""
    latest = list(latest_by_partition)
    if not latest:
        return []
    watermark = min(latest) - lateness
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


class Completeness:
    """Keeps one worker's partition progress in the lake and writes the markers it makes due."""

    def __init__(self, settings: Settings, s3: S3Client) -> None:
        self.settings, self.s3 = settings, s3
        self.bucket = settings.lake_bucket
        self.lateness = timedelta(minutes=settings.ingest_allowed_lateness_minutes)
        self.latest: dict[tuple[str, int], datetime] = {}
        self.topics: dict[str, TopicState] = {}
        self.reopened: set[tuple[str, datetime]] = set()
        self.unsaved: set[tuple[str, int]] = set()  # partitions whose progress is newer in memory than in the lake

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
            saved = self._get(f"_state/ingest/{topic}/markers.json") or {}
            self.topics[topic] = TopicState(
                *(datetime.fromisoformat(saved[k]) if saved.get(k) else None for k in ("first_hour", "marked_until"))
            )
        return self.topics[topic]

    def committed(self, topic: str, partition: int, hours: Iterable[datetime], latest_event: datetime) -> None:
        """Note a committed batch: the hours it wrote to and the latest event time it held (saved by publish)."""
        state = self._state(topic)
        for hour in hours:
            state.first_hour = min(state.first_hour or hour, hour)
            if state.marked_until and hour <= state.marked_until:
                self.reopened.add((topic, hour))
        key = (topic, partition)
        if key not in self.latest:
            saved = self._get(progress_key(topic, partition))
            self.latest[key] = datetime.fromisoformat(saved["latest_event"]) if saved else latest_event
        self.latest[key] = max(self.latest[key], latest_event)
        self.unsaved.add(key)

    def publish(self) -> int:
        """Save the progress noted since the last call, then write the markers it makes due; returns how many."""
        touched = sorted({topic for topic, _ in self.unsaved} | {topic for topic, _ in self.reopened})
        for topic, partition in sorted(self.unsaved):
            self._put(progress_key(topic, partition), {"latest_event": self.latest[topic, partition].isoformat()})
        self.unsaved.clear()
        return sum(len(self.advance(topic)) for topic in touched)

    def advance(self, topic: str) -> list[datetime]:
        """Write the markers that are due for a topic; returns the hours (re)marked."""
        state = self._state(topic)
        if state.first_hour is None:
            return []
        partitions = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"_state/ingest/{topic}/p")
        progress = [self._get(item["Key"]) for item in partitions.get("Contents", [])]
        latest = [datetime.fromisoformat(doc["latest_event"]) for doc in progress if doc]
        due = hours_to_mark(latest, self.lateness, state.marked_until, state.first_hour)
        due += sorted(hour for t, hour in self.reopened if t == topic)
        self.reopened = {(t, h) for t, h in self.reopened if t != topic}
        for hour in due:
            self._write_marker(topic, hour, watermark=min(latest) - self.lateness)
        if due:
            state.marked_until = max(state.marked_until or due[-1], due[-1])
            self._put(
                f"_state/ingest/{topic}/markers.json",
                {"first_hour": state.first_hour.isoformat(), "marked_until": state.marked_until.isoformat()},
            )
        return due

    def _object_facts(self, key: str) -> dict[str, int]:
        """Rows and offsets the sink stored as object metadata; rows from the Parquet footer otherwise."""
        meta = self.s3.head_object(Bucket=self.bucket, Key=key)["Metadata"]
        if "rows" in meta:
            return {name: int(value) for name, value in meta.items()}
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return {"rows": pq.ParquetFile(io.BytesIO(body)).metadata.num_rows}

    def _write_marker(self, topic: str, hour: datetime, watermark: datetime) -> None:
        prefix = marker_key(topic, hour).rsplit("/", 1)[0] + "/"
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        objects = []
        for item in listed:
            if item["Key"].endswith(".parquet"):
                objects.append({"key": item["Key"], "bytes": item["Size"], **self._object_facts(item["Key"])})
        previous = self._get(marker_key(topic, hour))
        self._put(
            marker_key(topic, hour),
            {
                "topic": topic,
                "hour": hour.isoformat(),
                "version": (previous["version"] + 1) if previous else 1,
                "marked_at": datetime.now(UTC).isoformat(),
                "watermark": watermark.isoformat(),
                "rows": sum(o["rows"] for o in objects),
                "objects": objects,
            },
        )
