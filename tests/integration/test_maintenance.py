"""Raw-zone compaction and retention on the real S3 server, with hand-made raw objects and markers."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.compaction import ManifestMismatch, compact_day
from ingestion.completeness import Completeness, missing_hours
from ingestion.raw_zone import to_parquet
from sluice import lake
from sluice.objectstore import S3Client, s3_client
from sluice.retention import expire
from sluice.settings import Settings

TOPIC = "marketplace.listings"
DAY = date(2026, 3, 14)
HOUR_0, HOUR_1, HOUR_2 = (datetime(2026, 3, 14, h, tzinfo=UTC) for h in range(3))


@pytest.fixture
def bucket(stack: Settings, unique: str) -> tuple[S3Client, Settings]:
    settings = stack.model_copy(update={"lake_bucket": unique})
    s3 = s3_client(settings)
    s3.create_bucket(Bucket=unique)
    return s3, settings


def _put_raw(s3: S3Client, bucket: str, hour: datetime, partition: int, offsets: range) -> str:
    """One sink object: its rows name their partition and offset, and its metadata says so, like the sink's."""
    table = pa.table(
        {
            "event_id": [f"p{partition}-o{o}" for o in offsets],
            "kafka_partition": pa.array([partition] * len(offsets), pa.int32()),
            "kafka_offset": pa.array(list(offsets), pa.int64()),
        }
    )
    key = lake.raw_object_key(TOPIC, partition, offsets[0], hour)
    meta = {"rows": str(len(offsets)), "partition": str(partition)}
    meta |= {"first_offset": str(offsets[0]), "last_offset": str(offsets[-1])}
    s3.put_object(Bucket=bucket, Key=key, Body=to_parquet(table), Metadata=meta)
    return key


def _mark(settings: Settings, s3: S3Client, hour: datetime) -> None:
    Completeness(settings, s3)._write_marker(TOPIC, hour, watermark=None)  # what the sink does when an hour is due


def _folder(s3: S3Client, bucket: str, hour: datetime) -> list[str]:
    prefix = lake.raw_hour_prefix(TOPIC, hour)
    return sorted(o["Key"].removeprefix(prefix) for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])


def _marker(s3: S3Client, bucket: str, hour: datetime) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=lake.marker_key(TOPIC, hour))["Body"].read()))


def _event_ids(s3: S3Client, bucket: str, hour: datetime) -> list[str]:
    prefix = lake.raw_hour_prefix(TOPIC, hour)
    ids: list[str] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        if item["Key"].endswith(".parquet"):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            ids += pq.read_table(io.BytesIO(body)).column("event_id").to_pylist()
    return sorted(ids)


def test_an_hours_objects_become_one_and_the_manifest_keeps_their_offsets(bucket: tuple[S3Client, Settings]) -> None:
    s3, settings = bucket
    name = settings.lake_bucket
    _put_raw(s3, name, HOUR_0, 0, range(0, 3))
    _put_raw(s3, name, HOUR_0, 0, range(3, 5))
    _put_raw(s3, name, HOUR_0, 1, range(10, 14))
    _mark(settings, s3, HOUR_0)
    _put_raw(s3, name, HOUR_1, 1, range(14, 16))  # a single object: nothing to compact
    _mark(settings, s3, HOUR_1)
    _put_raw(s3, name, HOUR_2, 0, range(5, 6))  # no marker yet: the sink may still add to it
    _put_raw(s3, name, HOUR_2, 1, range(16, 17))

    result = compact_day(s3, name, TOPIC, DAY)

    assert (result.hours, result.objects_before, result.objects_deleted) == (1, 3, 3)
    assert _folder(s3, name, HOUR_0) == ["_COMPLETE.json", f"{TOPIC}-compacted-v2.parquet"]
    assert _event_ids(s3, name, HOUR_0) == sorted([f"p0-o{o}" for o in range(5)] + [f"p1-o{o}" for o in range(10, 14)])
    marker = _marker(s3, name, HOUR_0)
    assert (marker["version"], marker["rows"]) == (2, 9)
    [entry] = marker["objects"]
    assert entry["rows"] == 9
    assert [(o["partition"], o["first_offset"], o["last_offset"]) for o in entry["compacted_from"]] == [
        (0, 0, 2),
        (0, 3, 4),
        (1, 10, 13),
    ]
    assert len(_folder(s3, name, HOUR_1)) == 2
    assert _marker(s3, name, HOUR_1)["version"] == 1
    assert len(_folder(s3, name, HOUR_2)) == 2

    again = compact_day(s3, name, TOPIC, DAY)
    assert (again.hours, again.objects_deleted) == (0, 0)
    assert _marker(s3, name, HOUR_0)["version"] == 2


def test_a_late_event_after_compaction_is_compacted_in_with_its_lineage(bucket: tuple[S3Client, Settings]) -> None:
    s3, settings = bucket
    name = settings.lake_bucket
    _put_raw(s3, name, HOUR_0, 0, range(0, 2))
    _put_raw(s3, name, HOUR_0, 1, range(0, 2))
    _mark(settings, s3, HOUR_0)
    compact_day(s3, name, TOPIC, DAY)
    late = _put_raw(s3, name, HOUR_0, 2, range(7, 8))
    _mark(settings, s3, HOUR_0)  # the sink rewrites the hour's marker: version 3, the lineage kept

    assert [len(o.get("compacted_from", [])) for o in _marker(s3, name, HOUR_0)["objects"]] == [2, 0]
    result = compact_day(s3, name, TOPIC, DAY)

    assert result.hours == 1
    assert _folder(s3, name, HOUR_0) == ["_COMPLETE.json", f"{TOPIC}-compacted-v4.parquet"]
    [entry] = _marker(s3, name, HOUR_0)["objects"]
    assert [o["partition"] for o in entry["compacted_from"]] == [0, 1, 2]
    assert entry["compacted_from"][-1]["key"] == late
    assert _event_ids(s3, name, HOUR_0) == ["p0-o0", "p0-o1", "p1-o0", "p1-o1", "p2-o7"]


def test_a_run_interrupted_after_either_step_is_finished_by_the_next(bucket: tuple[S3Client, Settings]) -> None:
    s3, settings = bucket
    name = settings.lake_bucket
    originals = [_put_raw(s3, name, HOUR_0, p, range(0, 2)) for p in (0, 1)]
    bodies = {key: s3.get_object(Bucket=name, Key=key)["Body"].read() for key in originals}
    _mark(settings, s3, HOUR_0)
    # Step 1 done, then a crash: a compacted object the marker does not list yet.
    s3.put_object(Bucket=name, Key=lake.compacted_key(TOPIC, HOUR_0, 2), Body=b"half-written")

    compact_day(s3, name, TOPIC, DAY)
    assert _folder(s3, name, HOUR_0) == ["_COMPLETE.json", f"{TOPIC}-compacted-v2.parquet"]
    assert _event_ids(s3, name, HOUR_0) == ["p0-o0", "p0-o1", "p1-o0", "p1-o1"]

    # Step 2 done, then a crash: the marker lists the compacted object, the replaced ones are still there.
    for key, body in bodies.items():
        s3.put_object(Bucket=name, Key=key, Body=body)
    _mark(settings, s3, HOUR_0)  # a late event's re-marking meanwhile must not count the leftovers' rows again
    marker = _marker(s3, name, HOUR_0)
    assert [entry["key"].rsplit("/", 1)[1] for entry in marker["objects"]] == [f"{TOPIC}-compacted-v2.parquet"]
    assert marker["rows"] == 4
    result = compact_day(s3, name, TOPIC, DAY)
    assert (result.hours, result.objects_deleted) == (0, 2)
    assert _folder(s3, name, HOUR_0) == ["_COMPLETE.json", f"{TOPIC}-compacted-v2.parquet"]
    assert _event_ids(s3, name, HOUR_0) == ["p0-o0", "p0-o1", "p1-o0", "p1-o1"]


def test_a_marker_listing_a_lost_object_stops_compaction_with_its_name(bucket: tuple[S3Client, Settings]) -> None:
    s3, settings = bucket
    name = settings.lake_bucket
    kept = _put_raw(s3, name, HOUR_0, 0, range(0, 2))
    lost = _put_raw(s3, name, HOUR_0, 1, range(0, 2))
    _mark(settings, s3, HOUR_0)
    s3.delete_object(Bucket=name, Key=lost)

    with pytest.raises(ManifestMismatch, match=lost.replace(".", r"\.")):
        compact_day(s3, name, TOPIC, DAY)
    assert _folder(s3, name, HOUR_0) == ["_COMPLETE.json", kept.rsplit("/", 1)[1]]


def test_retention_deletes_whole_days_before_the_cutoff_and_nothing_else(bucket: tuple[S3Client, Settings]) -> None:
    s3, settings = bucket
    name = settings.lake_bucket
    keys = [
        "raw/a.events/dt=2026-01-30/hr=23/a.events-p0000-o00000000000000000000.parquet",
        "raw/a.events/dt=2026-01-30/hr=23/_COMPLETE.json",
        "raw/a.events/dt=2026-01-31/hr=00/a.events-p0000-o00000000000000000007.parquet",
        "raw/b.events/dt=2026-01-29/hr=05/b.events-p0001-o00000000000000000000.parquet",
        "raw/b.events/dt=2026-02-01/hr=05/b.events-p0001-o00000000000000000009.parquet",
        "quarantine/stg_users/dt=2026-01-30/run-1/part-0.parquet",
        "staging/stg_users/dt=2026-01-01/part-0.parquet",  # outside the expired prefix: kept
    ]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"x")

    expired = expire(s3, name, "raw/", before=date(2026, 1, 31))

    assert expired == ["raw/a.events/dt=2026-01-30/", "raw/b.events/dt=2026-01-29/"]
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"])
    assert left == sorted([keys[2], keys[4], keys[5], keys[6]])
    assert expire(s3, name, "quarantine/", before=date(2026, 1, 31)) == ["quarantine/stg_users/dt=2026-01-30/"]


def test_a_backfill_in_airflow_compacts_each_day_of_its_range(bucket: tuple[S3Client, Settings]) -> None:
    from sluice.orchestration.client import AirflowClient
    from sluice.orchestration.maintenance_dag import DAG_ID

    s3, settings = bucket
    name = settings.lake_bucket
    days = [date(2026, 3, day) for day in range(9, 16)]
    for day in days:
        hour = datetime(day.year, day.month, day.day, tzinfo=UTC)
        _put_raw(s3, name, hour, 0, range(0, 2))
        _put_raw(s3, name, hour, 1, range(0, 3))
        _mark(settings, s3, hour)
    airflow = AirflowClient(settings)
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)

    backfill = airflow.backfill(DAG_ID, date(2026, 3, 12), date(2026, 3, 14), {"lake_bucket": name})
    airflow.wait_backfill(backfill, timeout=900)

    runs = airflow.runs(DAG_ID, conf_contains=name)
    assert [(run["run_type"], run["state"]) for run in runs] == [("backfill", "success")] * len(runs)
    # One run per data interval that starts in the range: 03:00 on the 12th and on the 13th (the 14th's starts after
    # the range's end, midnight). A run's date is its interval's start; it compacts the day before.
    assert [run["data_interval_start"][:10] for run in runs] == ["2026-03-12", "2026-03-13"]
    compacted = [day for day in days if len(_folder(s3, name, datetime(day.year, day.month, day.day))) == 2]
    assert compacted == [date(2026, 3, 11), date(2026, 3, 12)]


def test_a_marker_lists_every_object_of_an_hour_that_holds_more_than_one_listing_page(
    bucket: tuple[S3Client, Settings],
) -> None:
    """S3 lists 1,000 keys a page; an hour of a busy topic (36 partitions, a flush every 30 s) holds thousands."""
    s3, settings = bucket
    keys = [_put_raw(s3, settings.lake_bucket, HOUR_0, partition=0, offsets=range(o, o + 1)) for o in range(1001)]
    _mark(settings, s3, HOUR_0)
    marker = _marker(s3, settings.lake_bucket, HOUR_0)
    assert sorted(o["key"] for o in marker["objects"]) == sorted(keys)
    assert marker["rows"] == 1001


def test_history_replayed_from_before_the_first_marked_day_gets_every_hour_of_its_days_marked(
    bucket: tuple[S3Client, Settings],
) -> None:
    """Events of earlier days replayed into Kafka after the sink started: the empty hours of those days need their
    markers too, or the marts of those days wait for them forever."""
    s3, settings = bucket
    sink = Completeness(settings, s3)  # allowed lateness: 60 minutes
    sink.committed(TOPIC, 0, [HOUR_0, HOUR_1, HOUR_2], latest_event=datetime(2026, 3, 14, 5, 30, tzinfo=UTC))
    sink.publish()
    assert missing_hours(s3, settings.lake_bucket, TOPIC, DAY) == list(range(4, 24))  # 00-03 end before 04:30

    replayed = datetime(2026, 3, 13, 7, tzinfo=UTC)  # one hour of the day before has records, the rest none
    sink.committed(TOPIC, 0, [replayed], latest_event=replayed + timedelta(minutes=10))
    sink.publish()
    assert missing_hours(s3, settings.lake_bucket, TOPIC, DAY - timedelta(days=1)) == []
    assert missing_hours(s3, settings.lake_bucket, TOPIC, DAY) == list(range(4, 24))

    # A worker started later (it knows where marking began) replays older history into another partition, which
    # holds the watermark back until it is read to its end: meanwhile only the hour with records is (re)marked.
    restarted = Completeness(settings, s3)
    older = datetime(2026, 3, 11, 12, tzinfo=UTC)
    restarted.committed(TOPIC, 1, [older], latest_event=older)
    restarted.publish()
    assert missing_hours(s3, settings.lake_bucket, TOPIC, date(2026, 3, 11)) == [h for h in range(24) if h != 12]
    restarted.idle(TOPIC, 1)
    restarted.publish()
    for day in (date(2026, 3, 11), date(2026, 3, 12), date(2026, 3, 13)):
        assert missing_hours(s3, settings.lake_bucket, TOPIC, day) == [], day
