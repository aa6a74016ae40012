"""The speed track's record check, in Python workers: each Kafka record decoded with the contract's decoder, as the sink
decodes it, into the few columns the speed families count.

Kept apart from `spark_jobs.speed_track` so that a Python worker imports only this (the contract, msgspec, pyarrow):
the job's module pulls in the catalog and Great Expectations, seconds of imports per worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import msgspec
import pyarrow as pa

from ingestion.contract import Contract, load_contract
from sluice.speed import ACTORS

# What the parser keeps of an event: enough for every family's totals.
PARSED_SCHEMA = (
    "valid boolean, event_id string, event_type string, event_time timestamp, actors array<bigint>, "
    "region_id int, category string, amount bigint"
)
_PARSED_ARROW = pa.schema(
    [
        ("valid", pa.bool_()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("actors", pa.list_(pa.int64())),
        ("region_id", pa.int32()),
        ("category", pa.string()),
        ("amount", pa.int64()),
    ]
)


def parse_batch(contract: Contract, batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decode one Arrow batch of Kafka records (topic, value); a record that breaks the contract gets valid=false."""
    out: dict[str, list[Any]] = {name: [] for name in _PARSED_ARROW.names}
    for topic, value in zip(batch.column("topic").to_pylist(), batch.column("value").to_pylist(), strict=True):
        try:
            event = contract.decoder(topic).decode(value)
        except (msgspec.DecodeError, KeyError):  # KeyError: a topic the contract does not know
            event = None
        if event is None:
            for name in _PARSED_ARROW.names:
                out[name].append(False if name == "valid" else None)
            continue
        event_type = type(event).__name__
        out["valid"].append(True)
        out["event_id"].append(event.event_id)
        out["event_type"].append(event_type)
        out["event_time"].append(event.event_time.astimezone(UTC))
        out["actors"].append([getattr(event, field) for field in ACTORS.get(event_type, ())])
        out["region_id"].append(getattr(event, "region_id", None) if event_type == "listing_created" else None)
        out["category"].append(getattr(event, "category", None))
        out["amount"].append(getattr(event, "price", None))
    return pa.RecordBatch.from_pydict(out, schema=_PARSED_ARROW)


def parse_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    contract = load_contract()
    for batch in batches:
        yield parse_batch(contract, batch)
