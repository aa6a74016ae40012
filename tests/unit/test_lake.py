"""The lake's layout: every key and prefix spelled out here, independently of sluice.lake."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from sluice import lake

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)
DS = date(2026, 11, 20)


def test_sink_objects_are_named_by_topic_hour_partition_and_first_offset() -> None:
    assert lake.raw_object_key("t", 3, 42, HOUR) == "raw/t/dt=2026-11-20/hr=05/t-p0003-o00000000000000000042.parquet"
    assert lake.raw_object_key("marketplace.listings", 2, 1500, datetime(2026, 11, 1, 21, tzinfo=UTC)) == (
        "raw/marketplace.listings/dt=2026-11-01/hr=21/marketplace.listings-p0002-o00000000000000001500.parquet"
    )


def test_markers_and_compacted_objects_sit_in_their_hour_folder() -> None:
    assert lake.raw_topic_prefix("t") == "raw/t/"
    assert lake.raw_day_prefix("t", DS) == "raw/t/dt=2026-11-20/"
    assert lake.raw_hour_prefix("t", HOUR) == "raw/t/dt=2026-11-20/hr=05/"
    assert lake.marker_key("marketplace.chats", datetime(2026, 11, 1, 9, tzinfo=UTC)) == (
        "raw/marketplace.chats/dt=2026-11-01/hr=09/_COMPLETE.json"
    )
    assert lake.compacted_key("t", HOUR, 2) == "raw/t/dt=2026-11-20/hr=05/t-compacted-v2.parquet"
    assert lake.marker_of("raw/t/dt=2026-11-20/hr=05/t-p0003-o00000000000000000042.parquet") == (
        "raw/t/dt=2026-11-20/hr=05/_COMPLETE.json"
    )


def test_markers_and_compacted_objects_are_told_apart_by_name() -> None:
    assert lake.is_marker("raw/t/dt=2026-11-20/hr=05/_COMPLETE.json")
    assert not lake.is_marker("raw/t/dt=2026-11-20/hr=05/t-p0003-o00000000000000000042.parquet")
    assert lake.is_compacted("raw/t/dt=2026-11-20/hr=05/t-compacted-v12.parquet")
    assert not lake.is_compacted("raw/t/dt=2026-11-20/hr=05/t-p0003-o00000000000000000042.parquet")


def test_raw_keys_parse_back_into_topic_hour_partition_and_offset() -> None:
    parsed = lake.parse_raw_key("raw/a.b/dt=2026-11-20/hr=05/a.b-p0003-o00000000000000000042.parquet")
    assert parsed == lake.RawKey("a.b", HOUR, "a.b-p0003-o00000000000000000042.parquet", 3, 42)
    marker = lake.parse_raw_key("raw/a.b/dt=2026-11-20/hr=23/_COMPLETE.json")
    assert (marker.topic, marker.hour.hour, marker.partition, marker.first_offset) == ("a.b", 23, None, None)
    with pytest.raises(ValueError, match="not a key in a raw-zone hour folder"):
        lake.parse_raw_key("quarantine/stg_users/dt=2026-11-20/run/part-0.parquet")


def test_date_folders_parse_and_other_names_do_not() -> None:
    assert lake.date_folder(DS) == "dt=2026-11-20"
    assert lake.parse_date_folder("dt=2026-11-20/") == DS
    assert lake.parse_date_folder("stg_users/") is None


def test_sink_state_keys() -> None:
    assert lake.ingest_progress_key("t", 7) == "_state/ingest/t/p0007.json"
    assert lake.ingest_progress_key("t", 7).startswith(lake.ingest_progress_prefix("t"))
    assert not lake.ingest_marker_state_key("t").startswith(lake.ingest_progress_prefix("t"))
    assert lake.ingest_marker_state_key("t") == "_state/ingest/t/markers.json"


def test_model_locations_and_records() -> None:
    assert lake.table_location("core", "dim_users") == "core/dim_users"
    assert lake.staging_prefix("stg_users", DS) == "_staging/stg_users/dt=2026-11-20/"
    assert lake.quarantine_prefix("stg_users", DS) == "quarantine/stg_users/dt=2026-11-20/"
    assert lake.build_record_key("stg_users", DS) == "_state/builds/stg_users/dt=2026-11-20.json"
    assert lake.build_session_key("stg_users", DS) == "_state/build-sessions/stg_users/dt=2026-11-20.json"
    assert lake.quality_result_key("stg_users", DS, "r1") == "quality/results/stg_users/dt=2026-11-20/r1.json"
    assert lake.QUALITY_DOCS_INDEX == "quality/docs/index.html"


def test_the_raw_schema_is_what_the_sink_has_always_written() -> None:
    assert lake.raw_schema() == pa.schema(
        [
            ("event_id", pa.string()),
            ("event_type", pa.string()),
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("value", pa.string()),
            ("kafka_key", pa.binary()),
            ("kafka_partition", pa.int32()),
            ("kafka_offset", pa.int64()),
            ("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
            ("ingested_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def test_spark_reads_the_raw_columns_plus_the_partition_columns() -> None:
    assert lake.RAW_SPARK_DDL == (
        "event_id string, event_type string, event_time timestamp, value string, kafka_key binary, "
        "kafka_partition int, kafka_offset bigint, kafka_timestamp timestamp, ingested_at timestamp, dt date, hr int"
    )


def test_importing_the_layout_loads_no_pyarrow() -> None:
    """DAG files import it while Airflow parses them."""
    code = "import sys, sluice.lake; print('pyarrow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
