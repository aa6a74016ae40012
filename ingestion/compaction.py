"""Raw-zone compaction: an hour's many small objects (one per sink flush and partition) become one.

Only hours with a completeness marker are touched, and only the objects their manifest lists. The steps keep every
moment readable and every step re-runnable:

1. write `<topic>-compacted-v<N>.parquet`, the listed objects' rows in key order (N: the marker's next version);
2. rewrite the marker as version N: one entry for the new object, whose `compacted_from` lists the objects it
   replaced with their partitions and offset ranges, so the manifest still says where every row came from;
3. delete the replaced objects.

A crash after 1 or 2 leaves rows twice in the hour's folder until the next run; staging deduplicates by event_id,
so a build in between reads the same events. The next run redoes 1 and 2 (same key, same rows) or, after 2,
deletes what the marker says was replaced. Only days some time past are compacted (`raw_compact_after_days`):
the sink rewrites a marker when a late event lands in its hour, and two writers of one marker would race.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from ingestion.raw_zone import to_parquet
from sluice import lake
from sluice.objectstore import S3Client, delete_keys, list_objects

log = logging.getLogger(__name__)


class ManifestMismatch(RuntimeError):
    """A marker lists objects, or rows, that the hour's folder does not hold."""


@dataclass
class CompactionResult:
    hours: int = 0  # hours compacted by this run
    objects_before: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    objects_deleted: int = 0  # replaced objects, including those an interrupted run had left behind


def compact_day(s3: S3Client, bucket: str, topic: str, day: date) -> CompactionResult:
    """Compact every marked hour of `day` that holds more than one object; idempotent."""
    result = CompactionResult()
    for marker_key, present in sorted(_hour_folders(s3, bucket, lake.raw_day_prefix(topic, day)).items()):
        if marker_key not in present:
            continue  # not complete yet: the sink may still add objects
        marker = json.loads(s3.get_object(Bucket=bucket, Key=marker_key)["Body"].read())
        if len(marker["objects"]) > 1:
            marker = _compact_hour(s3, bucket, topic, marker_key, marker, present, result)
        listed = {entry["key"] for entry in marker["objects"]}
        replaced = {old["key"] for entry in marker["objects"] for old in entry.get("compacted_from", [])}
        # Objects the sink wrote after the marker are neither: they wait for its next rewrite. A compacted object the
        # marker no longer lists was replaced by a later compaction.
        stale = sorted(key for key in present - listed if key in replaced or lake.is_compacted(key))
        if stale:
            delete_keys(s3, bucket, stale)
            result.objects_deleted += len(stale)
    return result


def _compact_hour(
    s3: S3Client,
    bucket: str,
    topic: str,
    marker_key: str,
    marker: dict[str, Any],
    present: set[str],
    result: CompactionResult,
) -> dict[str, Any]:
    """Steps 1 and 2: write the hour's rows as one object, then the marker that lists it; returns the marker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = sorted(marker["objects"], key=lambda entry: entry["key"])
    missing = [entry["key"] for entry in entries if entry["key"] not in present]
    if missing:
        raise ManifestMismatch(
            f"{marker_key} lists objects that are not in the lake: {missing}. Re-ingest the hour from the offsets "
            "the marker lists (reset the sink's consumer group) before compacting it."
        )
    tables = [
        pq.read_table(pa.BufferReader(s3.get_object(Bucket=bucket, Key=e["key"])["Body"].read())) for e in entries
    ]
    table = pa.concat_tables(tables, promote_options="default")
    if table.num_rows != marker["rows"]:
        raise ManifestMismatch(f"{marker_key} counts {marker['rows']} rows but its objects hold {table.num_rows}")
    version = marker["version"] + 1
    key = lake.compacted_key(topic, lake.parse_raw_key(marker_key).hour, version)
    body = to_parquet(table)
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"rows": str(table.num_rows)})
    replaced = [old for entry in entries for old in entry.get("compacted_from", [entry])]
    compacted = {"key": key, "bytes": len(body), "rows": table.num_rows, "compacted_from": replaced}
    updated = {**marker, "version": version, "objects": [compacted]}
    s3.put_object(Bucket=bucket, Key=marker_key, Body=json.dumps(updated, indent=1).encode())
    result.hours += 1
    result.objects_before += len(entries)
    result.bytes_before += sum(entry["bytes"] for entry in entries)
    result.bytes_after += len(body)
    log.info("compacted %s: %d objects into %s", marker_key.rsplit("/", 1)[0], len(entries), key)
    return updated


def _hour_folders(s3: S3Client, bucket: str, prefix: str) -> dict[str, set[str]]:
    """Per hour folder under `prefix` (named by its marker key): the keys it holds."""
    folders: dict[str, set[str]] = defaultdict(set)
    for item in list_objects(s3, bucket, prefix):
        folders[lake.marker_of(item["Key"])].add(item["Key"])
    return folders
