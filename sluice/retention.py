"""Retention: whole date partitions (`dt=YYYY-MM-DD/` folders) older than a cutoff are deleted from the lake.

Works on any prefix whose date folders sit at some depth below it: `raw/<topic>/dt=…/hr=…/`,
`quarantine/<model>/dt=…/<run>/`. A raw day's completeness markers go first, so a day caught half-deleted reads as
incomplete and no build uses what is left of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sluice import lake
from sluice.objectstore import S3Client, delete_keys, list_objects


def dated_folders(s3: S3Client, bucket: str, prefix: str) -> Iterator[tuple[date, str]]:
    """Every `dt=` folder under `prefix` with its date, found level by level (never listing the files inside)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]
            if (day := lake.parse_date_folder(folder.removeprefix(prefix))) is not None:
                yield day, folder
            else:
                yield from dated_folders(s3, bucket, folder)


def expire(s3: S3Client, bucket: str, prefix: str, before: date) -> list[str]:
    """Delete the date folders under `prefix` dated before `before`; returns them."""
    expired = sorted(folder for day, folder in dated_folders(s3, bucket, prefix) if day < before)
    for folder in expired:
        keys = [item["Key"] for item in list_objects(s3, bucket, folder)]
        markers = [key for key in keys if lake.is_marker(key)]
        delete_keys(s3, bucket, markers)  # a request of its own: S3 deletes one request's keys in no set order
        delete_keys(s3, bucket, [key for key in keys if not lake.is_marker(key)])
    return expired
