"""The speed track: `python -m spark_jobs.speed_track` (or `sluice speed`) runs until stopped.

Structured Streaming reads the marketplace topics from Kafka and checks each record against the contract with the
same decoder the sink uses (a record that breaks it is skipped and counted; the sink dead-letters it). Events are
placed in the hour of their event time; duplicates (same event_id) are dropped within the watermark, and an event
more than `speed_watermark_minutes` older than the newest one seen is left to the batch track (Spark judges it by
the watermark of the micro-batch before, which chained stateful steps need). One streaming query
per metric family (`sluice.speed.FAMILIES`) keeps hourly totals in its state, checkpointed in the lake; after each
micro-batch it writes the family's current hours as one snapshot named by the batch. A SIGKILL and restart replays
the unfinished batch from the checkpoint into the same snapshot, so no event is lost or counted twice.

Its own JVM (a classic session), never the warm Connect server: a streaming query would hold the server's cores, and
a query started through Connect outlives its killed client. In the k8s profile it is a long-running SparkApplication.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingestion.contract import load_contract
from sluice import lake, speed
from sluice.marts.project import Project, load_project
from sluice.objectstore import s3_client
from sluice.serving.speed_views import register_views
from sluice.settings import Settings, load_settings
from sluice.spark import classic_session
from sluice.topics import offsets_since
from spark_jobs.speed_events import PARSED_SCHEMA, parse_partition

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger("sluice.speed")
_PUBLISHED_CHECK_SECONDS = 60.0  # how often a family asks the catalog which days its mart has published


def events(spark: SparkSession, settings: Settings, fam: speed.Family) -> DataFrame:
    """The family's contract-valid events, de-duplicated within the watermark; refusals observed as contract_<name>."""
    from pyspark.sql import functions as F

    contract = load_contract()
    topics = sorted({contract.events[event_type].topic for event_type in fam.event_types})
    since_ms = int((time.time() - settings.speed_lookback_hours * 3600) * 1000)
    source = {
        "kafka.bootstrap.servers": settings.kafka_servers,
        "subscribe": ",".join(topics),
        # First start only (later ones resume from the checkpoint): the recent past, so today's hours fill at once.
        "startingOffsets": json.dumps(offsets_since(settings, topics, since_ms)),
        "failOnDataLoss": "false",  # records gone past retention are the batch track's to account for
        "maxOffsetsPerTrigger": "200000",  # catching up comes in bounded batches, not one huge one
        # A task reads its partition's range, then the consumer's next fetch (past the range, where nothing is yet)
        # waits for new data on the broker: 500 ms by default, per partition per batch. 36 partitions made a micro-
        # batch of 2,000 records take 4 to 8 s; with 20 ms it takes under one.
        "kafka.fetch.max.wait.ms": "20",
    }
    records = spark.readStream.format("kafka").options(**source).load().select("topic", "value")
    # One task per core rather than per Kafka partition: each task's trip through a Python worker costs more than
    # decoding its records (a micro-batch of 36 partitions: 2 to 4 s, coalesced: under 1 s).
    records = records.coalesce(spark.sparkContext.defaultParallelism)
    parsed = records.mapInArrow(parse_partition, PARSED_SCHEMA).observe(
        f"contract_{fam.name}", F.count(F.lit(1)).alias("records"), F.count(F.when(~F.col("valid"), 1)).alias("refused")
    )
    return (
        parsed.where(F.col("valid") & F.col("event_type").isin(*fam.event_types))
        .drop("valid")
        .withWatermark("event_time", f"{settings.speed_watermark_minutes} minutes")
        .dropDuplicatesWithinWatermark(["event_id"])
    )


def _counted(event_type: str, first: Column) -> Column:
    from pyspark.sql import functions as F

    return F.count(F.when(first & (F.col("event_type") == event_type), 1))


def activity_hourly(evts: DataFrame) -> DataFrame:
    """mart_activity_hourly's columns: each event counted once (its first actor's row), every actor active."""
    from pyspark.sql import functions as F

    acting = evts.where(F.size("actors") > 0).select("*", F.posexplode("actors").alias("position", "actor"))
    first = F.col("position") == 0
    totals = acting.groupBy(F.window("event_time", "1 hour")).agg(
        F.size(F.collect_set("actor")).cast("bigint").alias("active_users"),
        _counted("listing_created", first).alias("new_listings"),
        _counted("listing_viewed", first).alias("listing_views"),
        _counted("search_performed", first).alias("searches"),
        _counted("chat_started", first).alias("chats_started"),
        _counted("message_sent", first).alias("messages_sent"),
        _counted("transaction_completed", first).alias("transactions"),
        F.coalesce(
            F.sum(F.when(first & (F.col("event_type") == "transaction_completed"), F.col("amount"))), F.lit(0)
        ).alias("gmv"),
        _counted("report_filed", first).alias("reports"),
    )
    return _by_hour(totals)


def new_listings_hourly(evts: DataFrame) -> DataFrame:
    """mart_new_listings_hourly's columns."""
    from pyspark.sql import functions as F

    listings = evts.where(F.col("event_type") == "listing_created")
    totals = listings.groupBy(F.window("event_time", "1 hour"), "region_id", "category").agg(
        F.count(F.lit(1)).alias("new_listings"), F.sum("amount").alias("listed_value")
    )
    return _by_hour(totals)


def _by_hour(totals: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    start = F.col("window.start")
    return totals.select(F.to_date(start).alias("dt"), F.hour(start).alias("hr"), "*").drop("window")


AGGREGATIONS = {"activity_hourly": activity_hourly, "new_listings_hourly": new_listings_hourly}


class SnapshotSink:
    """foreachBatch: merge a micro-batch's updated hours into the family's current hours, write them as a snapshot."""

    def __init__(self, settings: Settings, project: Project, fam: speed.Family) -> None:
        self.settings, self.family = settings, fam
        self.snapshots = speed.Snapshots(s3_client(settings), settings, project, fam)
        self.current = self.snapshots.latest()  # the hours as of the last snapshot written
        self.published: set[date] = set()
        self.published_at = 0.0

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        updated = [row.asDict() for row in batch.collect()]  # update mode: each changed hour's new totals, a few rows
        self._refresh_published(batch.sparkSession)
        before = len(self.current)
        self.current.update({self.snapshots.key(row): row for row in updated})
        oldest = datetime.now(UTC) - timedelta(hours=self.settings.speed_retention_hours)
        self.current = {k: row for k, row in self.current.items() if not speed.expired(row, self.published, oldest)}
        if updated or len(self.current) != before:
            written = self.snapshots.write(batch_id, self.current.values())
            self.snapshots.prune()
            log.info("%s batch %d: %d hours updated, %d current%s", self.family.name, batch_id, len(updated),
                     len(self.current), "" if written else " (replayed; its snapshot exists)")  # fmt: skip

    def _refresh_published(self, spark: SparkSession) -> None:
        if time.monotonic() - self.published_at < _PUBLISHED_CHECK_SECONDS:
            return
        table = f"{self.settings.marts_schema}.{self.family.mart}"
        self.published = {
            lake.parse_date_folder(row[0]) or date.min for row in spark.sql(f"show partitions {table}").collect()
        }
        self.published_at = time.monotonic()


def start(spark: SparkSession, settings: Settings, project: Project) -> list[StreamingQuery]:
    """Prepare the catalog and the speed zone, then start one query per family."""
    from pyspark.sql.streaming.listener import StreamingQueryListener

    from sluice.marts.build import Builder

    Builder(spark, settings, project).ensure_tables([fam.mart for fam in speed.FAMILIES])
    s3 = s3_client(settings)
    for fam in speed.FAMILIES:
        speed.Snapshots(s3, settings, project, fam).ensure_one()
    register_views(spark, settings, project)

    class Progress(StreamingQueryListener):
        def onQueryStarted(self, event: Any) -> None:
            pass

        def onQueryProgress(self, event: Any) -> None:
            progress = event.progress
            for name, row in progress.observedMetrics.items():
                family = name.removeprefix("contract_")
                speed.add_progress(s3, settings, family, progress.batchId, row["records"], row["refused"])
            phases = " ".join(f"{phase}={ms}" for phase, ms in sorted(progress.durationMs.items()))
            log.info("%s batch %d: %d records; ms %s", progress.name, progress.batchId, progress.numInputRows, phases)

        def onQueryIdle(self, event: Any) -> None:
            pass

        def onQueryTerminated(self, event: Any) -> None:
            pass

    spark.streams.addListener(Progress())
    queries = []
    for fam in speed.FAMILIES:
        totals = AGGREGATIONS[fam.name](events(spark, settings, fam))
        expected = list(speed.snapshot_schema(project, fam).names[:-1])
        if sorted(totals.columns) != sorted(expected):  # the mart's YAML is the one definition of the columns
            raise ValueError(f"speed family {fam.name} computes {totals.columns}, but {fam.mart} has {expected}")
        query = (
            totals.writeStream.queryName(f"speed_{fam.name}")
            .outputMode("update")
            .foreachBatch(SnapshotSink(settings, project, fam))
            .option("checkpointLocation", f"{settings.lake_uri}/{lake.speed_checkpoint(fam.name)}")
            .trigger(processingTime=f"{settings.speed_trigger_seconds} seconds")
            .start()
        )
        queries.append(query)
    return queries


def session(settings: Settings) -> SparkSession:
    # One state partition: a micro-batch holds a few thousand events, and each partition of each stateful step costs
    # its own task and state files in the checkpoint every batch. (Fixed by the checkpoint once the job has run.)
    speed_settings = settings.model_copy(
        update={"spark_driver_memory": settings.speed_driver_memory, "spark_shuffle_partitions": 1}
    )
    spark = classic_session(speed_settings, "sluice-speed")
    # No extra micro-batch just because the watermark moved: expired state goes with the next batch that has data,
    # and an empty batch would hold up the next one with data by about a second.
    spark.conf.set("spark.sql.streaming.noDataMicroBatches.enabled", "false")
    return spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per callback otherwise
    settings = load_settings()
    spark = session(settings)
    queries = start(spark, settings, load_project())
    views = ", ".join(f"{settings.marts_schema}.{fam.view}" for fam in speed.FAMILIES)
    print(f"speed track running: {len(queries)} queries, views {views}", flush=True)
    spark.streams.awaitAnyTermination()
    failed = [q for q in queries if q.exception() is not None]
    for query in failed:
        print(f"error: speed query {query.name} failed: {query.exception()}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
