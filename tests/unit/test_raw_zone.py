import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq

from ingestion.contract import load_contract
from ingestion.raw_zone import RecordBatch, decode, split_by_hour, to_parquet
from ingestion.sink import PartitionBuffer, flush_due
from sluice.settings import load_settings

INGESTED = datetime(2026, 11, 2, 0, 5, tzinfo=UTC)


def _viewed(event_id: str, event_time: str, listing_id: int = 1) -> bytes:
    event = {
        "event_id": event_id,
        "event_type": "listing_viewed",
        "event_time": event_time,
        "schema_version": 1,
        "listing_id": listing_id,
        "user_id": 9,
    }
    return json.dumps(event).encode()


def _batch(values: list[bytes], first_offset: int = 100) -> RecordBatch:
    n = len(values)
    return RecordBatch(
        "marketplace.listings",
        2,
        list(range(first_offset, first_offset + n)),
        [b"1"] * n,
        values,
        [1_762_000_000_000 + i for i in range(n)],
    )


def test_valid_events_become_rows_and_bad_ones_dead_letters_with_reasons() -> None:
    values = [
        _viewed("a", "2026-11-01T21:10:00+00:00"),
        b"{not json",
        _viewed("b", "2026-11-02T06:20:00+09:00"),  # 21:20 UTC
        json.dumps({"event_id": "c", "event_type": "listing_viewed"}).encode(),
        _viewed("d", "2026-11-01T21:59:59.999+00:00"),
    ]
    table, dead = decode(_batch(values), load_contract(), INGESTED)

    assert table.column("event_id").to_pylist() == ["a", "b", "d"]
    assert table.column("kafka_offset").to_pylist() == [100, 102, 104]
    assert table.column("value").to_pylist()[1] == values[2].decode()  # stored as received
    assert table.column("event_time").to_pylist()[1] == datetime(2026, 11, 1, 21, 20, tzinfo=UTC)
    assert set(table.column("kafka_partition").to_pylist()) == {2}
    assert [d.offset for d in dead] == [101, 103]
    assert dead[0].value == b"{not json"
    assert "malformed" in dead[0].reason
    assert "missing required field" in dead[1].reason


def test_late_events_go_to_the_hour_they_happened_in() -> None:
    values = [
        _viewed("on-time-1", "2026-11-01T22:00:01+00:00"),
        _viewed("late", "2026-11-01T19:45:00+00:00"),
        _viewed("on-time-2", "2026-11-01T22:30:00+00:00"),
    ]
    table, _ = decode(_batch(values, first_offset=7), load_contract(), INGESTED)
    objects = {obj.hour.hour: obj for obj in split_by_hour(table, "marketplace.listings", 2, 7)}

    assert sorted(objects) == [19, 22]
    assert objects[19].table.column("event_id").to_pylist() == ["late"]
    assert objects[22].table.column("event_id").to_pylist() == ["on-time-1", "on-time-2"]
    assert objects[19].key.endswith("dt=2026-11-01/hr=19/marketplace.listings-p0002-o00000000000000000007.parquet")


def test_parquet_objects_are_zstd_with_one_row_group(tmp_path: Path) -> None:
    table, _ = decode(_batch([_viewed(str(i), "2026-11-01T21:00:00Z") for i in range(50)]), load_contract(), INGESTED)
    path = tmp_path / "x.parquet"
    path.write_bytes(to_parquet(table))
    meta = pq.ParquetFile(path).metadata
    assert (meta.num_rows, meta.num_row_groups) == (50, 1)
    assert meta.row_group(0).column(0).compression == "ZSTD"


def _records(offsets: range) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=o, key=b"k", value=b"v" * 10, timestamp=0) for o in offsets]


def test_a_replayed_batch_stops_exactly_at_its_intended_end() -> None:
    buffer = PartitionBuffer(RecordBatch("t", 0), replay_end=104)
    rest = buffer.take(_records(range(100, 108)))
    assert buffer.batch.offsets == [100, 101, 102, 103, 104]
    assert [r.offset for r in rest] == [105, 106, 107]
    assert flush_due(buffer, load_settings(ingest_flush_seconds=3600), now=buffer.started)


def test_flush_rules_count_bytes_and_age() -> None:
    settings = load_settings(ingest_flush_records=5, ingest_flush_bytes=1000, ingest_flush_seconds=30)
    buffer = PartitionBuffer(RecordBatch("t", 0))
    buffer.take(_records(range(4)))
    assert not flush_due(buffer, settings, now=buffer.started + 1)
    assert flush_due(buffer, settings, now=buffer.started + 30)
    buffer.take(_records(range(4, 5)))
    assert flush_due(buffer, settings, now=buffer.started)
    by_bytes = PartitionBuffer(RecordBatch("t", 0))
    by_bytes.take([SimpleNamespace(offset=0, key=None, value=b"x" * 1000, timestamp=0)])
    assert flush_due(by_bytes, settings, now=by_bytes.started)
