"""`sluice demo`: the pipeline as far as it exists, end to end on the local stack.

Simulated marketplace events go through Kafka, the exactly-once sink lands them in the raw zone
(with dead letters and completeness markers), and Spark reads the raw zone back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ingestion.contract import load_contract
from ingestion.simulator import SimulationConfig, produce, simulate
from ingestion.sink import Sink
from ingestion.status import group_lag
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.stack.process import StackError
from sluice.topics import create_pipeline_topics


def run_demo(settings: Settings, days: float, seed: int, echo: Callable[[str], None] = print) -> int:
    contract = load_contract()
    topics = list(contract.topics)
    create_pipeline_topics(settings, topics)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 1)
    summary = produce(settings, simulate(SimulationConfig(seed=seed, start=start, days=days)))
    echo(
        f"simulated {days:g} day(s) from {start:%Y-%m-%d}: {summary.sent} records to Kafka in {summary.seconds:.1f}s "
        f"({summary.valid} valid, {summary.duplicates} producer retries, {summary.malformed} malformed)"
    )

    backlog = sum(group_lag(settings, topics).values())
    # A backfill lands at once: no need to wait out the sink's usual flush interval.
    eager = settings.model_copy(update={"ingest_flush_seconds": min(settings.ingest_flush_seconds, 2.0)})
    counters = Sink(eager, contract).run(until=lambda c: c.written + c.dead_lettered >= backlog)
    echo(
        f"ingested {counters.written} events into s3://{settings.lake_bucket}/raw as {counters.objects} Parquet "
        f"objects; {counters.dead_lettered} dead letters in {settings.deadletter_topic}; "
        f"{counters.hours_marked} hours marked complete"
    )
    landed = _print_raw_zone(settings, echo)
    read_back = _read_back_with_spark(settings, [topic for topic in landed if topic in topics], echo)
    echo("\nwhere to look:")
    echo(f"  raw zone   s3://{settings.lake_bucket}/raw/<topic>/dt=YYYY-MM-DD/hr=HH/ at {settings.s3_url}")
    echo('  clients    eval "$(sluice env)" sets up aws, psql and Kafka tools')
    echo("  ingest     sluice ingest --status")
    echo(f"  logs       {settings.logs_dir}")
    return read_back


def _print_raw_zone(settings: Settings, echo: Callable[[str], None]) -> list[str]:
    """Objects and complete hours per topic; returns the topics that have objects."""
    objects: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    s3 = s3_client(settings)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix="raw/"):
        for item in page.get("Contents", []):
            topic = item["Key"].split("/")[1]
            (markers if item["Key"].endswith("_COMPLETE.json") else objects)[topic] += 1
    echo(f"  {'topic':<26} {'objects':>8} {'complete hours':>15}")
    for topic in sorted(objects):
        echo(f"  {topic:<26} {objects[topic]:>8} {markers[topic]:>15}")
    return sorted(objects)


def _read_back_with_spark(settings: Settings, topics: list[str], echo: Callable[[str], None]) -> int:
    from functools import reduce

    from sluice.spark import spark_session

    spark = spark_session(settings, "sluice-demo")
    # One table per topic: each is its own dt=/hr= partitioned folder.
    if not topics:
        raise StackError(f"spark found no events under {settings.lake_uri}/raw")
    frames = [spark.read.parquet(f"{settings.lake_uri}/raw/{topic}") for topic in topics]
    raw = reduce(lambda left, right: left.unionByName(right), frames)
    rows = raw.groupBy("event_type").count().orderBy("event_type").collect()
    total = int(sum(row["count"] for row in rows))
    if total == 0:
        raise StackError(f"spark found no events under {settings.lake_uri}/raw")
    echo(f"spark reads {total} raw events back; by type:")
    for row in rows:
        echo(f"  {row['event_type']:<24} {row['count']:>9}")
    return total
