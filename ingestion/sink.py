"""`sluice ingest`: Kafka topics to the raw zone as Parquet, exactly once, whatever crashes.

How a batch of one partition, offsets [first, last], becomes durable:

1. intent: commit offset `first` with metadata {"end": last, "ingested_at": ...}. A restarted (or new) owner of
   the partition reads it and ends its replayed batch at exactly `last`, stamped with the same ingestion time, so
   it writes byte-identical objects: whoever writes an object last, a zombie included, leaves the same content.
2. write: one Parquet object per event-time hour, named from topic, partition and `first`
   (deterministic, so a replay overwrites instead of duplicating). S3 errors are retried with backoff.
3. commit: one Kafka transaction sends the batch's dead letters and commits offset `last + 1`, with the
   partition's latest event time and first day so far as metadata (intents carry them too): the completeness
   markers' inputs are as durable as the offsets, whenever the worker dies.
   A crash before it aborts the transaction: no dead letter is visible and the batch replays.

Offsets are never committed before the objects covering them exist. Intents and batches commit in transactions
sent with the group's generation as it was when the flush began, so the broker refuses both from a worker that
lost its partitions meanwhile (a zombie, e.g. one paused past its session): the only objects a zombie can still
write are those of a batch whose intent it committed while it owned the partition, and they are byte-identical.

Completeness markers trail the commits (ingestion/completeness.py). A partition the sink has read to its
high watermark, with nothing of it buffered, for `ingest_idle_seconds` is reported idle, so that a quiet
partition does not hold its topic's markers back; its next records make it active again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from botocore.exceptions import BotoCoreError, ClientError
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import ConsumerGroupMetadata, OffsetAndMetadata

from ingestion.completeness import Completeness
from ingestion.contract import Contract
from ingestion.kafka_group import use_finished_joins
from ingestion.raw_zone import DeadLetter, HourObject, RecordBatch, decode, split_by_hour, to_parquet
from sluice.objectstore import s3_client
from sluice.settings import Settings

log = logging.getLogger("sluice.ingest")
use_finished_joins()  # kafka-python 3.0 rejoins after a join that ended between two polls (ingestion/kafka_group.py)
DeadLetterOf = tuple[TopicPartition, DeadLetter]
# kafka-python waits on some transactional calls without a deadline; after a broker restart one can
# hang, so each is bounded and a timeout reconnects (init_transactions then aborts what was left open).
KAFKA_CALL_TIMEOUT_S = 30
MARKER_INTERVAL_S = 10.0
MAX_REOPENED = 100  # hours in one commit's metadata: about 2.7 KB
IDLE_CHECK_INTERVAL_S = 1.0
BROKER_CHECK_INTERVAL_S = 1.0
END_OFFSETS_TIMEOUT_MS = 5_000


def _bounded(call: Callable[[], object], what: str) -> None:
    done, failure = threading.Event(), []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=run, name=what, daemon=True).start()
    if not done.wait(KAFKA_CALL_TIMEOUT_S):
        raise KafkaTimeoutError(f"{what} did not finish within {KAFKA_CALL_TIMEOUT_S}s")
    if failure:
        raise failure[0]


class Stopped(Exception):
    """Raised inside a flush when a stop was requested and the flush cannot finish in the drain time (or the object
    store is unreachable): its batches stay uncommitted and their next owner replays them."""


@dataclass
class Counters:
    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    objects: int = 0
    flushes: int = 0
    replays: int = 0
    s3_retries: int = 0
    hours_marked: int = 0
    restarts: int = 0  # kafka errors that made the sink reconnect and replay from the last commit
    broker_outages: int = 0  # times the consumer lost every broker connection and got one back
    idle_partitions: int = 0  # now, not a total: assigned partitions read to their end for ingest_idle_seconds


@dataclass(frozen=True)
class Intent:
    """A batch announced by a previous owner: where it ends and the ingestion time its rows carry."""

    end: int
    ingested_at: datetime | None  # None in intents written before the time was part of them

    @classmethod
    def parse(cls, metadata: dict[str, Any]) -> Intent | None:
        if "end" not in metadata:
            return None
        at = metadata.get("ingested_at")
        return cls(int(metadata["end"]), datetime.fromisoformat(at) if at else None)


@dataclass(frozen=True)
class Committed:
    """What a partition's commits so far hold, for its completeness markers: the latest event, the first day, and
    the hours they landed in that had a marker already and have not been marked again since."""

    latest_event: datetime
    first_day: datetime
    reopened: frozenset[datetime] = frozenset()

    @classmethod
    def parse(cls, metadata: dict[str, Any]) -> Committed | None:
        if "latest_event" not in metadata:
            return None
        reopened = frozenset(datetime.fromisoformat(hour) for hour in metadata.get("reopened", ()))
        return cls(
            datetime.fromisoformat(metadata["latest_event"]), datetime.fromisoformat(metadata["first_day"]), reopened
        )

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "latest_event": self.latest_event.isoformat(),
            "first_day": self.first_day.isoformat(),
        }
        if self.reopened:
            # Offset metadata is capped (offset.metadata.max.bytes, 4 KB): the latest hours, should a lake outage
            # have kept that many from being marked again.
            if len(self.reopened) > MAX_REOPENED:
                log.warning("%d reopened hours to carry; the oldest are left out", len(self.reopened))
            fields["reopened"] = [hour.isoformat() for hour in sorted(self.reopened)[-MAX_REOPENED:]]
        return fields

    def merge(self, other: Committed) -> Committed:
        return Committed(
            max(self.latest_event, other.latest_event),
            min(self.first_day, other.first_day),
            self.reopened | other.reopened,
        )


def _metadata(committed: OffsetAndMetadata | None) -> dict[str, Any]:
    return json.loads(committed.metadata) if committed and committed.metadata else {}


@dataclass
class PartitionBuffer:
    """What has been read from one partition since its last committed batch."""

    batch: RecordBatch
    started: float = field(default_factory=time.monotonic)
    nbytes: int = 0
    replay_end: int | None = None  # the `last` of an intent left by a previous owner
    ingested_at: datetime | None = None  # the time that intent stamped its rows with

    @property
    def first(self) -> int:
        return self.batch.offsets[0]

    @property
    def last(self) -> int:
        return self.batch.offsets[-1]

    def take(self, records: list[Any]) -> list[Any]:
        """Append records; returns those past a replayed batch's end, which belong to the next batch."""
        rest: list[Any] = []
        if self.replay_end is not None and records[-1].offset > self.replay_end:
            cut = next(i for i, r in enumerate(records) if r.offset > self.replay_end)
            records, rest = records[:cut], records[cut:]
        b = self.batch
        b.offsets.extend([r.offset for r in records])
        b.keys.extend([r.key for r in records])
        b.values.extend(values := [r.value for r in records])
        b.timestamps.extend([r.timestamp for r in records])
        self.nbytes += sum(map(len, values))
        return rest


def flush_due(buffer: PartitionBuffer, settings: Settings, now: float) -> bool:
    """A replayed batch ends exactly where its intent says; a fresh one on size, bytes or age."""
    if buffer.replay_end is not None:
        return buffer.last >= buffer.replay_end
    return (
        len(buffer.batch.offsets) >= settings.ingest_flush_records
        or buffer.nbytes >= settings.ingest_flush_bytes
        or now - buffer.started >= settings.ingest_flush_seconds
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's IO thread, which must not block: it only notes what changed for the main loop."""

    def __init__(self) -> None:
        self.revoked: queue.SimpleQueue[TopicPartition] = queue.SimpleQueue()
        self.assigned: queue.SimpleQueue[TopicPartition] = queue.SimpleQueue()

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.revoked.put(tp)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            self.assigned.put(tp)


class Sink:
    def __init__(
        self,
        settings: Settings,
        contract: Contract,
        topics: list[str] | None = None,
        worker: str = "0",
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.contract = contract
        self.topics = topics or list(contract.topics)
        self.worker = worker
        self.counters = Counters()
        self.buffers: dict[TopicPartition, PartitionBuffer] = {}
        self.carry: dict[TopicPartition, list[Any]] = {}  # records read past a replayed batch's end
        self.intents: dict[TopicPartition, Intent] = {}
        self.committed: dict[TopicPartition, Committed] = {}  # as the partition's last commit says
        self.generation: int | None = None  # of the group, as this thread last applied it
        self.caught_up_since: dict[TopicPartition, float] = {}  # read to the high watermark, nothing buffered
        self.idle: set[TopicPartition] = set()  # reported idle to completeness
        self.reading: set[TopicPartition] = set()  # had records since assignment or since reported idle
        self.idle_checked = 0.0
        self.broker_seen = False  # connected at least once: a consumer still bootstrapping has lost nothing
        self.broker_lost_at: float | None = None
        self.s3 = s3_client(settings, connect_timeout=2, retries=2)
        self.completeness = Completeness(settings, self.s3)
        self.markers_published = time.monotonic()
        self.uploads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload")
        self.status_file = settings.home / "ingest" / f"worker-{worker}.json"
        self._stop = stop or threading.Event()
        self._closed = threading.Event()
        self.stop_seen: float | None = None  # when the sink first saw the stop request: the drain time runs from there
        self._connect()
        threading.Thread(target=self._watch_broker, name="broker-watch", daemon=True).start()

    # -- clients -------------------------------------------------------------------------------

    def _connect(self) -> None:
        s = self.settings
        self.consumer = KafkaConsumer(
            bootstrap_servers=s.kafka_servers,
            group_id=s.ingest_group,
            client_id=f"sluice-ingest-{self.worker}",
            # Static membership: a worker restarted after a crash takes its partitions straight back,
            # instead of the group waiting out the dead member's session.
            group_instance_id=f"{s.ingest_group}-{self.worker}",
            session_timeout_ms=15_000,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=20_000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_min_bytes=64 * 1024,
            fetch_max_wait_ms=200,
        )
        self.rebalance = _Rebalance()
        self.consumer.subscribe(self.topics, listener=self.rebalance)
        self.producer = KafkaProducer(
            bootstrap_servers=s.kafka_servers,
            client_id=f"sluice-ingest-{self.worker}-dlq",
            transactional_id=f"{s.ingest_group}-{self.worker}",
            acks="all",
        )
        self.producer.init_transactions()  # also aborts what a crashed predecessor left open

    def _close(self) -> None:
        closers: list[Callable[[], object]] = [
            lambda: self.consumer.close(autocommit=False),
            lambda: self.producer.close(timeout=5),
        ]
        for close in closers:
            try:
                close()
            except Exception:  # closing a broken client must not hide why it broke
                log.debug("error while closing a kafka client", exc_info=True)

    def _rebalanced(self) -> bool:
        """Apply a rebalance that kafka-python ran on its IO thread, maybe while this thread polled or flushed: drop
        everything read so far and restart every assigned partition at its committed offset, reading the intent and
        progress there, as a new owner does. Records polled meanwhile may predate it: the caller drops them."""
        generation = self.consumer.group_metadata().generation_id
        if generation == self.generation and self.rebalance.revoked.empty() and self.rebalance.assigned.empty():
            return False
        changed = []
        for changes in (self.rebalance.revoked, self.rebalance.assigned):
            while not changes.empty():
                changed.append(changes.get())
        for tp in changed:
            self._forget_idleness(tp)
            self.completeness.forget(tp.topic, tp.partition)
        self.buffers.clear()
        self.carry.clear()
        self.intents.clear()
        self.committed.clear()
        for tp in self.consumer.assignment():
            committed = self.consumer.committed(tp, metadata=True, timeout_ms=KAFKA_CALL_TIMEOUT_S * 1000)
            if committed is None:
                self.consumer.seek_to_beginning(tp)  # as auto_offset_reset: nothing of it was ever committed
                continue
            self.consumer.seek(tp, committed.offset)
            metadata = _metadata(committed)
            if progress := Committed.parse(metadata):
                self.committed[tp] = progress
                self._restore(tp, progress)
            if intent := Intent.parse(metadata):
                self.intents[tp] = intent
                log.info("%s[%d]: replaying batch %d..%d", tp.topic, tp.partition, committed.offset, intent.end)
        self.generation = generation
        return True

    def _restore(self, tp: TopicPartition, progress: Committed) -> None:
        try:
            self.completeness.restore(
                tp.topic, tp.partition, progress.latest_event, progress.first_day, progress.reopened
            )
        except (BotoCoreError, ClientError) as error:  # the partition's next commit notes its progress again
            log.warning("could not read the progress of %s[%d] (%s)", tp.topic, tp.partition, error)

    # -- main loop -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def _drained(self) -> bool:
        """Whether a stop was requested and the drain time since is up: then nothing new is written."""
        if not self._stop.is_set():
            return False
        if self.stop_seen is None:
            self.stop_seen = time.monotonic()
        return time.monotonic() - self.stop_seen >= self.settings.ingest_drain_seconds

    def run(self, until: Callable[[Counters], bool] | None = None) -> Counters:
        """Consume and flush until stop() (or `until(counters)` is true); flushes what is buffered on the way out."""
        last_status = 0.0
        try:
            while not self._stop.is_set() and not (until and until(self.counters)):
                self._step()
                if time.monotonic() - last_status > 5:
                    self._report()
                    last_status = time.monotonic()
            # A replayed batch must end where its intent says, or its objects would differ: leave it to replay.
            self._flush(
                [
                    tp
                    for tp, b in self.buffers.items()
                    if b.replay_end is None or flush_due(b, self.settings, time.monotonic())
                ]
            )
            self._mark_complete([], force=True)
        except Stopped:
            log.warning("stopped before the last flush was durable; its uncommitted batches will replay")
        finally:
            self._closed.set()
            self._report()
            self._close()
            self.uploads.shutdown(wait=False, cancel_futures=True)
        return self.counters

    def _step(self) -> None:
        try:
            polled = self.consumer.poll(timeout_ms=200)
            if self._rebalanced():
                polled = {}
            for tp, records in polled.items():
                self.counters.consumed += len(records)
                self._add(tp, records)
            now = time.monotonic()
            self._flush([tp for tp, buffer in self.buffers.items() if flush_due(buffer, self.settings, now)])
            self._check_idle(now)
            self._mark_complete([], force=False)  # idle partitions change markers without any flush
        except KafkaError as error:
            # A broken commit or transaction: start over from what Kafka has committed.
            log.warning("kafka error, reconnecting and replaying from the last commit: %r", error)
            self.counters.restarts += 1
            self.buffers.clear()
            self.carry.clear()
            self._forget_idleness()  # a new consumer knows no high watermark yet
            self._close()
            self._reconnect()

    def _reconnect(self) -> None:
        """Connect again, waiting out a broker that is still restarting (or a stop request)."""
        delay = 1.0
        while not self._stop.is_set():
            time.sleep(delay)
            try:
                self._connect()
                return
            except KafkaError as error:
                log.warning("kafka still unreachable (%r); retrying in %.0f s", error, min(delay * 2, 30))
                delay = min(delay * 2, 30)

    def _add(self, tp: TopicPartition, records: list[Any]) -> None:
        if tp not in self.reading:
            self._activate(tp)
        buffer = self.buffers.get(tp)
        if buffer is None:
            buffer = self.buffers[tp] = PartitionBuffer(RecordBatch(tp.topic, tp.partition))
            if intent := self.intents.pop(tp, None):
                buffer.replay_end, buffer.ingested_at = intent.end, intent.ingested_at
        rest = buffer.take(records)
        if rest:
            self.carry.setdefault(tp, []).extend(rest)

    def _watch_broker(self) -> None:
        """Count outages of the broker as the consumer sees them (kafka-python reconnects on its own, silently), on a
        thread of its own: during an outage the main thread may wait in a commit until the broker is back."""
        while not self._closed.wait(BROKER_CHECK_INTERVAL_S):
            try:
                metrics = self.consumer.metrics() or {}
            except Exception:  # noqa: BLE001 - a client being replaced after an error: look again next time
                continue
            self._note_connections(metrics.get("consumer-metrics", {}).get("connection-count", 0), time.monotonic())

    def _note_connections(self, connections: float, now: float) -> None:
        if connections and self.broker_lost_at is not None:
            self.counters.broker_outages += 1
            log.warning("the broker is back after %.0f s without a connection", now - self.broker_lost_at)
            self.broker_lost_at = None
        elif not connections and self.broker_seen and self.broker_lost_at is None:
            log.warning("lost every connection to the broker; kafka-python keeps reconnecting")
            self.broker_lost_at = now
        self.broker_seen |= bool(connections)

    # -- idleness -------------------------------------------------------------------------------

    def _forget_idleness(self, tp: TopicPartition | None = None) -> None:
        """Drop what the sink knows of one partition's idleness, or of all (None); progress documents stay."""
        for each in [tp] if tp is not None else [*self.caught_up_since, *self.idle, *self.reading]:
            self.caught_up_since.pop(each, None)
            self.idle.discard(each)
            self.reading.discard(each)
        self.counters.idle_partitions = len(self.idle)

    def _activate(self, tp: TopicPartition) -> None:
        """Records arrived (or are waiting) since assignment or since the partition was idle: it holds the
        watermark back again."""
        try:
            self.completeness.arrived(tp.topic, tp.partition)
        except (BotoCoreError, ClientError) as error:
            # The flush's commit marks it active too; until then its markers may run ahead and be rewritten.
            log.warning("could not read the progress of %s[%d] (%s)", tp.topic, tp.partition, error)
        self.reading.add(tp)
        self.caught_up_since.pop(tp, None)
        self.idle.discard(tp)
        self.counters.idle_partitions = len(self.idle)

    def _position_if_caught_up(self, tp: TopicPartition) -> int | None:
        """The position, if it has reached the high watermark of the last fetch and nothing is buffered. Neither
        call waits on the network: the high watermark comes with every fetch response, and a partition that has
        one has a position."""
        if tp in self.buffers or tp in self.carry or tp in self.intents:
            return None
        try:
            highwater = self.consumer.highwater(tp)  # None until a fetch response for it came back
            position = self.consumer.position(tp, timeout_ms=0) if highwater is not None else None
        except KafkaError as error:  # e.g. revoked meanwhile: poll() reports what matters, here it only delays idleness
            log.debug("no position for %s[%d]: %r", tp.topic, tp.partition, error)
            return None
        return position if highwater is not None and position is not None and position >= highwater else None

    def _at_end(self, positions: dict[TopicPartition, int]) -> set[TopicPartition]:
        """Those whose position has reached the end offset the broker gives now. The high watermark of the last
        fetch goes stale while fetching stalls (after a broker restart, for one); one ListOffsets request does not."""
        if not positions:
            return set()
        try:
            ends = self.consumer.end_offsets(list(positions), timeout_ms=END_OFFSETS_TIMEOUT_MS)
        except KafkaError as error:  # unknown is not idle
            log.info("could not ask for end offsets, no partition is idle meanwhile: %r", error)
            return set()
        return {tp for tp, position in positions.items() if tp in ends and position >= ends[tp]}

    def _check_idle(self, now: float) -> None:
        """Partitions read to their end for ingest_idle_seconds are idle; the end is asked of the broker for them,
        at most every IDLE_CHECK_INTERVAL_S, and an idle one whose end moved is active again."""
        if now - self.idle_checked < IDLE_CHECK_INTERVAL_S:
            return
        self.idle_checked = now
        long_caught_up: dict[TopicPartition, int] = {}
        for tp in self.consumer.assignment() or ():
            position = self._position_if_caught_up(tp)
            if position is None:
                self.caught_up_since.pop(tp, None)
            elif now - self.caught_up_since.setdefault(tp, now) >= self.settings.ingest_idle_seconds:
                long_caught_up[tp] = position
        at_end = self._at_end(long_caught_up)
        for tp in self.idle - at_end:
            self._activate(tp)
        for tp in at_end - self.idle:
            try:
                self.completeness.idle(tp.topic, tp.partition)
            except (BotoCoreError, ClientError) as error:
                log.warning("could not read the progress of %s[%d] (%s)", tp.topic, tp.partition, error)
                break  # the store is down: try again at the next check rather than wait on it per partition
            self.idle.add(tp)
            self.reading.discard(tp)
        for tp in long_caught_up.keys() - at_end:
            self.caught_up_since.pop(tp, None)  # the local view was stale: wait out the idle time again
        self.counters.idle_partitions = len(self.idle)

    # -- the commit protocol -------------------------------------------------------------------

    def _flush(self, partitions: list[TopicPartition]) -> None:
        due = {tp: self.buffers[tp] for tp in partitions if tp in self.buffers and self.buffers[tp].batch.offsets}
        group = self.consumer.group_metadata()
        if not due or group.generation_id != self.generation:  # rebalanced meanwhile: the next step starts over
            return
        now = datetime.now(UTC)
        fresh = {tp: b for tp, b in due.items() if b.replay_end is None}
        if fresh:
            self._announce(fresh, now, group)
        self.counters.replays += len(due) - len(fresh)
        dead: list[DeadLetterOf] = []
        landed: list[tuple[TopicPartition, list[datetime], datetime]] = []
        objects: list[tuple[int, HourObject]] = []
        progress = {tp: self.committed[tp] for tp in due if tp in self.committed}
        for tp, buffer in due.items():
            table, letters = decode(buffer.batch, self.contract, buffer.ingested_at or now)
            hours = split_by_hour(table, tp.topic, tp.partition, buffer.first)
            objects += [(tp.partition, obj) for obj in hours]
            if hours:
                latest = pc.max(table.column("event_time")).as_py()
                landed.append((tp, [obj.hour for obj in hours], latest))
                batch = Committed(latest, hours[0].hour.replace(hour=0))  # hours come in order
                progress[tp] = progress[tp].merge(batch) if tp in progress else batch
            self.counters.written += table.num_rows
            dead += [(tp, letter) for letter in letters]
        # Encoding (zstd) and uploads release the GIL: run them side by side. All must land before the commit.
        for _ in self.uploads.map(lambda job: self._upload(*job), objects):
            self.counters.objects += 1
        # Asked only now that the objects are in: a marker written from here on lists them, and an hour marked
        # before is carried by the commit until it is marked again, whoever publishes next (completeness.py).
        reopened = self._reopened(landed)
        for tp, marked in reopened.items():
            progress[tp] = replace(progress[tp], reopened=progress[tp].reopened | marked)
        self._commit(due, dead, progress, group)
        self.committed.update(progress)
        for tp, marked in reopened.items():
            self.completeness.reopen(tp.topic, marked)
        for tp in due:
            del self.buffers[tp]
            if carried := self.carry.pop(tp, None):
                self._add(tp, carried)
        self.counters.flushes += 1
        self.counters.dead_lettered += len(dead)
        self._mark_complete(landed, force=False)

    def _announce(
        self, fresh: dict[TopicPartition, PartitionBuffer], now: datetime, group: ConsumerGroupMetadata
    ) -> None:
        """The intents of new batches: where each ends and its ingestion time, with the partition's progress so far."""
        intents = {}
        for tp, b in fresh.items():
            so_far = self.committed[tp].fields() if tp in self.committed else {}
            intent = {"end": b.last, "ingested_at": now.isoformat(), **so_far}
            intents[tp] = OffsetAndMetadata(b.first, json.dumps(intent), -1)
        self._transaction(intents, group)

    def _reopened(
        self, landed: list[tuple[TopicPartition, list[datetime], datetime]]
    ) -> dict[TopicPartition, frozenset[datetime]]:
        """The hours of the landed batches that have a marker already, per partition."""
        marked = {topic: self.completeness.marked_until(topic) for topic in {tp.topic for tp, _, _ in landed}}
        found = {}
        for tp, hours, _ in landed:
            if (until := marked[tp.topic]) and (old := frozenset(hour for hour in hours if hour <= until)):
                found[tp] = old
        return found

    def _mark_complete(self, landed: list[tuple[TopicPartition, list[datetime], datetime]], force: bool) -> None:
        """Progress and markers trail the commit, and go to the lake at most every MARKER_INTERVAL_S:
        if the store fails here, a later flush catches up."""
        try:
            for tp, hours, latest in landed:
                self.completeness.committed(tp.topic, tp.partition, hours, latest)
            if force or time.monotonic() - self.markers_published >= MARKER_INTERVAL_S:
                self.counters.hours_marked += self.completeness.publish(time_up=self._drained)
                self.markers_published = time.monotonic()
                self._forget_remarked()
        except (BotoCoreError, ClientError) as error:
            log.warning("could not update completeness markers (%s); will retry after the next flush", error)

    def _forget_remarked(self) -> None:
        """Reopened hours a publish has marked again: later commits need not carry them."""
        pending = self.completeness.reopened
        for tp, progress in self.committed.items():
            if progress.reopened:
                still = frozenset(hour for hour in progress.reopened if (tp.topic, hour) in pending)
                self.committed[tp] = replace(progress, reopened=still)

    def _commit(
        self,
        due: dict[TopicPartition, PartitionBuffer],
        dead: list[DeadLetterOf],
        progress: dict[TopicPartition, Committed],
        group: ConsumerGroupMetadata,
    ) -> None:
        """The batches' end: offset `last + 1` with the partition's progress, and the dead letters, in one
        transaction."""
        offsets = {
            tp: OffsetAndMetadata(b.last + 1, json.dumps(progress[tp].fields()) if tp in progress else "", -1)
            for tp, b in due.items()
        }
        self._transaction(offsets, group, dead)

    def _transaction(
        self,
        offsets: dict[TopicPartition, OffsetAndMetadata],
        group: ConsumerGroupMetadata,
        dead: Sequence[DeadLetterOf] = (),
    ) -> None:
        """Commit `offsets` (an intent, or a batch with its dead letters) in one transaction. The broker refuses
        offsets sent with `group` once the group has moved on to a newer generation: neither a batch nor its intent
        read before a rebalance can commit after it (a worker paused meanwhile included)."""
        self.producer.begin_transaction()
        for tp, letter in dead:
            self.producer.send(
                self.settings.deadletter_topic,
                key=letter.key,
                value=letter.value,
                timestamp_ms=letter.timestamp,
                headers=[
                    ("source_topic", tp.topic.encode()),
                    ("source_partition", str(tp.partition).encode()),
                    ("source_offset", str(letter.offset).encode()),
                    ("reason", letter.reason.encode()),
                    ("sink_worker", self.worker.encode()),
                ],
            )
        _bounded(lambda: self.producer.send_offsets_to_transaction(offsets, group), "sending offsets")
        _bounded(self.producer.commit_transaction, "committing the transaction")

    def _upload(self, partition: int, obj: HourObject) -> None:
        if self._drained():  # abandon the flush: it commits nothing, so its next owner replays it
            raise Stopped
        offsets = obj.table.column("kafka_offset")
        metadata = {
            "rows": str(obj.table.num_rows),
            "partition": str(partition),
            "first_offset": str(pc.min(offsets).as_py()),
            "last_offset": str(pc.max(offsets).as_py()),
        }
        self._put(obj.key, to_parquet(obj.table), metadata)

    def _put(self, key: str, body: bytes, metadata: dict[str, str]) -> None:
        """Write one object, retrying with backoff for as long as the object store is unreachable."""
        delay = 0.5
        while True:
            try:
                self.s3.put_object(Bucket=self.settings.lake_bucket, Key=key, Body=body, Metadata=metadata)
                return
            except (BotoCoreError, ClientError) as error:
                self.counters.s3_retries += 1
                log.warning(
                    "writing s3://%s/%s failed (%s); retrying in %.1fs", self.settings.lake_bucket, key, error, delay
                )
            if self._stop.wait(delay):
                raise Stopped
            delay = min(delay * 2, 10.0)

    def _report(self) -> None:
        status = {"worker": self.worker, "at": datetime.now(UTC).isoformat(), **asdict(self.counters)}
        log.info("ingest %s", json.dumps(status))
        write_status(self.status_file, status)


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(status))
    temporary.replace(path)


def ingest_backlog(settings: Settings, contract: Contract) -> Counters:
    """Ingest everything produced so far, then run on until every partition is idle, so that the last hours get
    their completeness markers (a backfill, the demo, tests). The sink publishes markers on its way out."""
    from ingestion.status import group_lag

    topics = list(contract.topics)
    backlog = sum(group_lag(settings, topics).values())
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, client_id="sluice-backfill")
    try:
        partitions = sum(len(consumer.partitions_for_topic(topic) or ()) for topic in topics)
    finally:
        consumer.close()
    return Sink(settings, contract).run(
        until=lambda c: c.written + c.dead_lettered >= backlog and c.idle_partitions >= partitions
    )
