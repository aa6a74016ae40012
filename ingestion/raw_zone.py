"""The raw zone's row format: pure functions from a batch of Kafka records to Parquet objects.

Rows are the events as received (the raw JSON value) plus their Kafka coordinates and a few envelope
fields pulled out for partition pruning and deduplication; all other shaping happens later in Spark.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.contract import Contract, explain
from sluice import lake

_HOUR_US = 3_600_000_000


@dataclass
class RecordBatch:
    """The records of one Kafka partition, in offset order, as parallel columns."""

    topic: str
    partition: int
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int
    reason: str


@dataclass(frozen=True)
class HourObject:
    key: str
    hour: datetime
    table: pa.Table


def decode(batch: RecordBatch, contract: Contract, ingested_at: datetime) -> tuple[pa.Table, list[DeadLetter]]:
    """Validate every value against the contract; valid ones become raw rows, the rest dead letters."""
    decoder, schema = contract.decoder(batch.topic), lake.raw_schema()
    events, good, dead = [], [], []
    for i, value in enumerate(batch.values):
        try:
            events.append(decoder.decode(value))
        except msgspec.DecodeError as error:
            reason = explain(error, batch.topic, contract)
            dead.append(DeadLetter(batch.offsets[i], batch.keys[i], value, batch.timestamps[i], reason))
            continue
        good.append(i)

    def kept(column: Sequence[object]) -> Sequence[object]:
        return column if not dead else [column[i] for i in good]

    names = {struct: name for name, struct in contract.structs.items()}
    table = pa.Table.from_arrays(
        [
            pa.array([e.event_id for e in events], pa.string()),
            pa.array([names[type(e)] for e in events], pa.string()),
            pa.array([e.event_time for e in events], schema.field("event_time").type),
            pa.array(kept(batch.values), pa.string()),
            pa.array(kept(batch.keys), pa.binary()),
            pa.array(np.full(len(events), batch.partition, np.int32)),
            pa.array(kept(batch.offsets), pa.int64()),
            pa.array(kept(batch.timestamps), pa.int64()).cast(schema.field("kafka_timestamp").type),
            pa.array(np.full(len(events), int(ingested_at.timestamp() * 1e6), np.int64)).cast(
                schema.field("ingested_at").type
            ),
        ],
        schema=schema,
    )
    return table, dead


def split_by_hour(table: pa.Table, topic: str, partition: int, first_offset: int) -> list[HourObject]:
    """One object per event-time hour; late events go to the hour they happened in."""
    if table.num_rows == 0:
        return []
    micros = table.column("event_time").cast(pa.int64()).to_numpy()
    hours, position = np.unique(micros // _HOUR_US, return_inverse=True)
    objects = []
    for index, hour in enumerate(hours):
        start = datetime.fromtimestamp(int(hour) * 3600, UTC)
        rows = table.take(np.flatnonzero(position == index))
        objects.append(HourObject(lake.raw_object_key(topic, partition, first_offset, start), start, rows))
    return objects


def to_parquet(table: pa.Table) -> bytes:
    """zstd, one row group per object: objects are already sized by the flush rules."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=max(table.num_rows, 1))
    return sink.getvalue()
