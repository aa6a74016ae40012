"""boto3 access to the lake's object store, configured only from Sluice settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from sluice.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyarrow import fs
else:
    S3Client = object


__all__ = ["S3Client", "arrow_filesystem", "delete_keys", "has_objects", "list_objects", "s3_client"]


def s3_client(settings: Settings, *, reader: bool = False, connect_timeout: float = 10, retries: int = 5) -> S3Client:
    """A client with the jobs' identity, or (reader=True) the analysts' read-only one (list and read the lake)."""
    prefix = "s3_reader" if reader else "s3"
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.secret(f"{prefix}_access_key"),  # type: ignore[arg-type]
        aws_secret_access_key=settings.secret(f"{prefix}_secret_key"),  # type: ignore[arg-type]
        config=Config(
            connect_timeout=connect_timeout,
            retries={"max_attempts": retries, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def arrow_filesystem(settings: Settings) -> fs.FileSystem:
    """The lake's object store as a pyarrow FileSystem, with the jobs' identity; paths are `<bucket>/<key>`."""
    from urllib.parse import urlsplit

    from pyarrow import fs

    endpoint = urlsplit(settings.s3_url)
    return fs.S3FileSystem(
        access_key=settings.secret("s3_access_key"),
        secret_key=settings.secret("s3_secret_key"),
        region=settings.s3_region,
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "https",
    )


def list_objects(s3: S3Client, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under the prefix (its Key, Size, LastModified), however many pages the listing takes."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def has_objects(s3: S3Client, bucket: str, prefix: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount"))


def delete_keys(s3: S3Client, bucket: str, keys: list[str]) -> None:
    """Delete the keys in batches of 1,000, the most one S3 request takes."""
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
