"""The Spark smoke check: a Parquet round trip through the lake over s3a."""

from __future__ import annotations

import uuid

from sluice.objectstore import list_objects, s3_client
from sluice.settings import Settings
from sluice.spark import spark_session
from sluice.stack.process import StackError


def spark_roundtrip(settings: Settings, rows: int = 1000) -> tuple[int, str]:
    """Write `rows` rows to a fresh prefix, read them back, check them, remove the prefix."""
    from pyspark.sql import functions as F

    prefix = f"_smoke/{uuid.uuid4().hex}"
    uri = f"{settings.lake_uri}/{prefix}"
    spark = spark_session(settings, "sluice-smoke")
    try:
        spark.range(rows).withColumn("square", F.col("id") * F.col("id")).write.parquet(uri)
        back = spark.read.parquet(uri).agg(F.count("*").alias("n"), F.sum("square").alias("total")).first()
    finally:
        bucket = settings.lake_bucket
        client = s3_client(settings)
        for item in list_objects(client, bucket, prefix):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    expected_total = sum(i * i for i in range(rows))
    if back is None or back["n"] != rows or back["total"] != expected_total:
        raise StackError(f"spark read back {back} from {uri}, expected {rows} rows summing to {expected_total}")
    return rows, uri
