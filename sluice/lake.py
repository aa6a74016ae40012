"""The lake's layout: every zone, key and file name that Sluice writes or reads, in one place.

Writers and readers (the sink, markers, compaction, retention, builds, serving, ML, BigQuery) ask this module
instead of spelling paths out. Keys and paths are relative to the lake bucket; prefixes end with `/`, keys and
table locations do not. Pure layout: no I/O, and nothing heavier than the standard library at import time (DAG
files import it while Airflow parses them); pyarrow is imported only by `raw_schema()`.

    raw/<topic>/dt=…/hr=HH/<topic>-p<partition>-o<first offset>.parquet   the sink's objects
    raw/<topic>/dt=…/hr=HH/_COMPLETE.json                 the hour's completeness marker (its manifest)
    <layer>/<model>/dt=…/                                 a model's table: staging, core or marts
    _staging/<model>/dt=…/<run>/                          a build's output before its quality gate
    quarantine/<model>/dt=…/<run>/                        rows a quality gate refused
    quality/results/<model>/dt=…/<run>.json, quality/docs/   validation results, Data Docs
    _state/ingest/<topic>/p<NNNN>.json, markers.json      the sink's progress and marking state
    _state/builds/<model>/dt=….json                       a published partition's build record
    _state/build-sessions/<model>/dt=….json               the Spark session of a partition's latest build
    models/nightly/dt=…/candidates/<name>/, *.json         a night's candidates, metrics, decision and scoring
    speed/<family>/v<batch>.parquet                       the speed track's current hours, one snapshot per batch
    speed/_progress/<family>.json                         records read and refused by the contract, so far
    checkpoints/speed/<family>/                           the speed track's streaming checkpoint
    models/<experiment>/<run>/artifacts/                  MLflow's artifacts (its server writes them)
    _ops/alerts/<dag>/<task>/<run>/try-N.json             a failed try was reported to Slack (by whom, when, how)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

# --- zones ----------------------------------------------------------------------------------------------------------

RAW = "raw"  # immutable events as received, by topic and event-time hour
LAYERS = ("staging", "core", "marts")  # the models' layers, in build order; a model's table is `<layer>/<model>`
STAGING = "_staging"  # a build's result before its gate; not the `staging` layer
QUARANTINE = "quarantine"
QUALITY = "quality"
QUALITY_RESULTS = f"{QUALITY}/results"
QUALITY_DOCS = f"{QUALITY}/docs"
QUALITY_DOCS_INDEX = f"{QUALITY_DOCS}/index.html"
SPEED = "speed"  # the speed track's aggregates of the current hours
MODELS = "models"  # MLflow artifacts
CHECKPOINTS = "checkpoints"  # streaming state
CATALOG = "catalog"  # the catalog schema's own location
WAREHOUSE = "warehouse"  # Spark's warehouse directory
STATE = "_state"  # Sluice's own bookkeeping
INGEST_STATE = f"{STATE}/ingest"
BUILDS = f"{STATE}/builds"
BUILD_SESSIONS = f"{STATE}/build-sessions"
OPS = "_ops"
ALERTS = f"{OPS}/alerts"  # which failed tries were reported: every scheduler, worker and sweep sees it

# --- the raw zone ---------------------------------------------------------------------------------------------------

MARKER_NAME = "_COMPLETE.json"
# The one definition of the raw zone's columns: name and Arrow type, in file order; timestamps are UTC.
RAW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("event_type", "string"),
    ("event_time", "timestamp[us]"),
    ("value", "string"),  # the Kafka value as received
    ("kafka_key", "binary"),
    ("kafka_partition", "int32"),
    ("kafka_offset", "int64"),
    ("kafka_timestamp", "timestamp[ms]"),
    ("ingested_at", "timestamp[us]"),
)
_SPARK_TYPES = {
    "string": "string",
    "binary": "binary",
    "int32": "int",
    "int64": "bigint",
    "timestamp[us]": "timestamp",
    "timestamp[ms]": "timestamp",
}
# What Spark reads: the files' columns plus the partition columns of their path (dt=…/hr=…).
RAW_SPARK_COLUMNS: tuple[tuple[str, str], ...] = (
    *((name, _SPARK_TYPES[arrow]) for name, arrow in RAW_COLUMNS),
    ("dt", "date"),
    ("hr", "int"),
)
RAW_SPARK_DDL = ", ".join(f"{name} {spark}" for name, spark in RAW_SPARK_COLUMNS)  # for spark.read.schema(...)

_RAW_KEY = re.compile(r"raw/(?P<topic>[^/]+)/dt=(?P<dt>\d{4}-\d\d-\d\d)/hr=(?P<hr>\d\d)/(?P<name>[^/]+)")
_SINK_OBJECT = re.compile(r"(?P<topic>.+)-p(?P<partition>\d{4,})-o(?P<offset>\d{20})\.parquet")
_COMPACTED = re.compile(r"-compacted-v\d+\.parquet$")


@functools.cache
def raw_schema() -> pa.Schema:
    """The Arrow schema of the raw zone's Parquet objects, as the sink writes them."""
    import pyarrow as pa

    def arrow(name: str) -> pa.DataType:
        if name.startswith("timestamp["):
            return pa.timestamp(name.removeprefix("timestamp[").removesuffix("]"), tz="UTC")
        return pa.type_for_alias(name)

    return pa.schema([(name, arrow(type_)) for name, type_ in RAW_COLUMNS])


def date_folder(day: date) -> str:
    """A date partition's folder name: `dt=YYYY-MM-DD`."""
    return f"dt={day:%Y-%m-%d}"


def parse_date_folder(name: str) -> date | None:
    """The date of a `dt=YYYY-MM-DD` folder name (a trailing `/` allowed); None for any other name."""
    name = name.rstrip("/")
    return date.fromisoformat(name.removeprefix("dt=")) if name.startswith("dt=") else None


def raw_topic_prefix(topic: str) -> str:
    return f"{RAW}/{topic}/"


def raw_day_prefix(topic: str, day: date) -> str:
    return f"{raw_topic_prefix(topic)}{date_folder(day)}/"


def raw_hour_prefix(topic: str, hour: datetime) -> str:
    """The hour folder: the sink's objects of the hour and its completeness marker."""
    return f"{raw_day_prefix(topic, hour)}hr={hour:%H}/"


def raw_object_key(topic: str, partition: int, first_offset: int, hour: datetime) -> str:
    """Deterministic: a replay of the same batch overwrites the same object instead of adding one."""
    return f"{raw_hour_prefix(topic, hour)}{topic}-p{partition:04d}-o{first_offset:020d}.parquet"


def marker_key(topic: str, hour: datetime) -> str:
    return raw_hour_prefix(topic, hour) + MARKER_NAME


def marker_of(key: str) -> str:
    """The completeness marker of the folder that holds `key`."""
    return f"{key.rsplit('/', 1)[0]}/{MARKER_NAME}"


def is_marker(key: str) -> bool:
    return key.endswith(f"/{MARKER_NAME}")


def compacted_key(topic: str, hour: datetime, version: int) -> str:
    """The object compaction makes of an hour's objects, named by the marker version that lists it."""
    return f"{raw_hour_prefix(topic, hour)}{topic}-compacted-v{version}.parquet"


def is_compacted(key: str) -> bool:
    return _COMPACTED.search(key) is not None


@dataclass(frozen=True)
class RawKey:
    """What a raw-zone key says: topic, hour and file name; partition and first offset for a sink object."""

    topic: str
    hour: datetime
    name: str
    partition: int | None = None
    first_offset: int | None = None


def parse_raw_key(key: str) -> RawKey:
    """The parts of a key in the raw zone's hour folders; ValueError for any other key."""
    if not (match := _RAW_KEY.fullmatch(key)):
        raise ValueError(f"{key!r} is not a key in a raw-zone hour folder (raw/<topic>/dt=YYYY-MM-DD/hr=HH/<name>)")
    day = date.fromisoformat(match["dt"])
    hour = datetime(day.year, day.month, day.day, int(match["hr"]), tzinfo=UTC)
    sink = _SINK_OBJECT.fullmatch(match["name"])
    if sink is None or sink["topic"] != match["topic"]:
        return RawKey(match["topic"], hour, match["name"])
    return RawKey(match["topic"], hour, match["name"], int(sink["partition"]), int(sink["offset"]))


# --- the sink's state -----------------------------------------------------------------------------------------------


def ingest_progress_prefix(topic: str) -> str:
    """Lists the progress documents of a topic's partitions (and nothing else)."""
    return f"{INGEST_STATE}/{topic}/p"


def ingest_progress_key(topic: str, partition: int) -> str:
    """One partition's progress: the latest event time committed and whether the partition is idle."""
    return f"{ingest_progress_prefix(topic)}{partition:04d}.json"


def ingest_marker_state_key(topic: str) -> str:
    """Where marking of a topic starts and the last hour it marked."""
    return f"{INGEST_STATE}/{topic}/markers.json"


# --- models ---------------------------------------------------------------------------------------------------------


def table_location(layer: str, model: str) -> str:
    """A model's table, partitioned by dt below it."""
    return f"{layer}/{model}"


def partition_prefix(layer: str, model: str, ds: date) -> str:
    """A published partition of a model's table: its Parquet files."""
    return f"{table_location(layer, model)}/{date_folder(ds)}/"


def staging_prefix(model: str, ds: date) -> str:
    """A build's staged partition, before its gate; one `<run>/` folder per build below it."""
    return f"{STAGING}/{model}/{date_folder(ds)}/"


def quarantine_prefix(model: str, ds: date) -> str:
    """Rows a gate refused; one `<run>/` folder per failed build below it."""
    return f"{QUARANTINE}/{model}/{date_folder(ds)}/"


def quality_result_key(model: str, ds: date, run_id: str) -> str:
    """Great Expectations' validation result of one build."""
    return f"{QUALITY_RESULTS}/{model}/{date_folder(ds)}/{run_id}.json"


def build_record_key(model: str, ds: date) -> str:
    """The last publish of a model's partition (rows, checks, seconds, report)."""
    return f"{BUILDS}/{model}/{date_folder(ds)}.json"


def build_session_key(model: str, ds: date) -> str:
    """The Spark Connect session of a partition's latest build, so the next one can stop it."""
    return f"{BUILD_SESSIONS}/{model}/{date_folder(ds)}.json"


# --- the speed track ------------------------------------------------------------------------------------------------


def speed_prefix(family: str) -> str:
    """A metric family's snapshots: each micro-batch writes all current hours anew; readers take the newest."""
    return f"{SPEED}/{family}/"


def speed_snapshot_key(family: str, version: int) -> str:
    """Named by the micro-batch, so a batch replayed after a crash overwrites its own snapshot."""
    return f"{speed_prefix(family)}v{version:012d}.parquet"


def speed_progress_key(family: str) -> str:
    return f"{SPEED}/_progress/{family}.json"


def speed_checkpoint(family: str) -> str:
    return f"{CHECKPOINTS}/speed/{family}"


# --- the moderation model -------------------------------------------------------------------------------------------

TRAINING_SET = "mart_moderation_training"  # the mart the nightly model trains on (marts/marts/)
PREDICTIONS = "mart_listing_predictions"  # the champion's scores of each day's new listings, written by ml/
NEW_LISTINGS = ("staging", "stg_listings")  # what the champion scores: the day's listings


def nightly_prefix(ds: date) -> str:
    """One night of the model DAG: its candidates (a folder each), their held-out metrics, the promotion decision
    and the scoring's result; the steps hand over through it."""
    return f"{MODELS}/nightly/{date_folder(ds)}/"


# --- operations -----------------------------------------------------------------------------------------------------


def alert_record_key(dag_id: str, task_id: str, run_id: str, try_number: int) -> str:
    """One failed try's report. One key per try, not per kind of message: a try is reported once, whoever sends."""
    return f"{ALERTS}/{dag_id}/{task_id}/{run_id}/try-{try_number}.json"
