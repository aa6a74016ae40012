"""`sluice demo`: the pipeline as far as it exists, end to end on the local stack.

Simulated marketplace events go through Kafka, the exactly-once sink lands them in the raw zone (with dead letters
and completeness markers), then Spark builds every model in marts/ for each simulated day, each partition
published only after its quality gate passed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from ingestion.contract import load_contract
from ingestion.simulator import SimulationConfig, produce, simulate
from ingestion.sink import ingest_backlog
from sluice.objectstore import s3_client
from sluice.settings import Settings
from sluice.stack.process import StackError
from sluice.topics import create_pipeline_topics

_MARGIN_DAYS = 0.15


def run_demo(settings: Settings, days: float, seed: int, echo: Callable[[str], None] = print) -> int:
    contract = load_contract()
    topics = list(contract.topics)
    create_pipeline_topics(settings, topics)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=math.ceil(days) + 1)
    # A few hours past the last day, so that the watermark passes its last hour and every day is complete.
    summary = produce(settings, simulate(SimulationConfig(seed=seed, start=start, days=days + _MARGIN_DAYS)))
    echo(
        f"simulated {days:g} day(s) from {start:%Y-%m-%d}: {summary.sent} records to Kafka in {summary.seconds:.1f}s "
        f"({summary.valid} valid, {summary.duplicates} producer retries, {summary.malformed} malformed)"
    )

    # A backfill lands at once: no need to wait out the sink's usual flush interval.
    eager = settings.model_copy(update={"ingest_flush_seconds": min(settings.ingest_flush_seconds, 2.0)})
    counters = ingest_backlog(eager, contract)
    echo(
        f"ingested {counters.written} events into s3://{settings.lake_bucket}/raw as {counters.objects} Parquet "
        f"objects; {counters.dead_lettered} dead letters in {settings.deadletter_topic}; "
        f"{counters.hours_marked} hours marked complete"
    )
    _print_raw_zone(settings, echo)
    built = _build_marts(settings, [start.date() + timedelta(days=n) for n in range(math.floor(days))], echo)
    echo("\nwhere to look:")
    echo(f"  raw zone   s3://{settings.lake_bucket}/raw/<topic>/dt=YYYY-MM-DD/hr=HH/ at {settings.s3_url}")
    echo('  clients    eval "$(sluice env)" sets up aws, psql and Kafka tools')
    echo("  ingest     sluice ingest --status")
    echo(f"  marts      sluice marts list | graph; tables in schema {settings.marts_schema} (Hive metastore)")
    echo(f"  quality    s3://{settings.lake_bucket}/quality/docs/index.html (Great Expectations Data Docs)")
    echo(f"  logs       {settings.logs_dir}")
    return built


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


def _build_marts(settings: Settings, days: list[date], echo: Callable[[str], None]) -> int:
    """Build every model for each complete day; print rows and gate results of the last. Returns rows published."""
    from sluice.marts.build import Builder
    from sluice.marts.project import load_project
    from sluice.spark import spark_session

    if not days:
        raise StackError("simulate at least one whole day (--days 1) to build the marts")
    project = load_project()
    builder = Builder(spark_session(settings, "sluice-demo"), settings, project)
    published = 0
    for day in days:
        echo(f"\nbuilding {len(project.models)} models for dt={day} (Spark, quality gates, publish):")
        for built in builder.build_many(list(project.models), day):
            published += built.rows
            echo(f"  {built.model:<32} {built.rows:>8} rows  {built.checks:>3} checks passed  {built.seconds:5.1f} s")
    return published
