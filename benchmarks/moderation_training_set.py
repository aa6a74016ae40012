"""The moderation model's training set built straight from the simulator, with exactly the training mart's columns:
for offline evaluation at a realistic scale and for the GPU training run, without the stack (no Kafka, no lake, no
Spark).

    .venv/bin/python benchmarks/moderation_training_set.py --days 30 --users 3000 --out /tmp/training.parquet

Each listing_created event is a row; its label is the latest moderation_decided for that listing (NULL when none:
text for pre-training only). Holdout = listings created on the last simulated day (UTC date), the rest train, as the
mart splits by creation date. Malformed records (no event_id) and producer retries (a repeated event_id) are skipped.
Then train with the ml environment:

    cd ml && PYTHONPATH=. .venv/bin/python -m sluice_ml.train --data /tmp/training.parquet --out /tmp/moderation
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.simulator import SimulationConfig, simulate
from sluice.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "ml"))  # the training set's schema is the ML package's (sluice_ml.data)
from sluice_ml.data import SCHEMA as TRAINING_SCHEMA

START = datetime(2026, 10, 1, tzinfo=UTC)  # fixed, so the same arguments give the same file


def collect(config: SimulationConfig) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[datetime, str]]]:
    """Listings by id and each listing's latest decision (event time, label)."""
    seen: set[str] = set()
    listings: dict[int, dict[str, Any]] = {}
    decisions: dict[int, tuple[datetime, str]] = {}
    for record in simulate(config):
        if record.event_id is None or record.event_id in seen:
            continue
        seen.add(record.event_id)
        event = json.loads(record.value)
        kind = event["event_type"]
        if kind == "listing_created":
            listings[event["listing_id"]] = event
        elif kind == "moderation_decided":
            at = datetime.fromisoformat(event["event_time"])
            latest = decisions.get(event["listing_id"])
            if latest is None or at >= latest[0]:
                decisions[event["listing_id"]] = (at, event["label"])
    return listings, decisions


def training_table(config: SimulationConfig) -> pa.Table:
    listings, decisions = collect(config)
    last_day = (config.start + timedelta(days=config.days) - timedelta(microseconds=1)).astimezone(UTC).date()
    rows: dict[str, list[Any]] = {name: [] for name in TRAINING_SCHEMA.names}
    for listing_id, event in sorted(listings.items()):
        created = datetime.fromisoformat(event["event_time"]).astimezone(UTC)
        decision = decisions.get(listing_id)
        rows["listing_id"].append(listing_id)
        rows["created_at"].append(created)
        for name in ("title", "body", "price", "category", "lang"):
            rows[name].append(event[name])
        rows["label"].append(None if decision is None else decision[1])
        rows["split"].append("holdout" if created.date() == last_day else "train")
        rows["dt"].append(last_day)
    return pa.table(rows, schema=TRAINING_SCHEMA)


def summary(table: pa.Table) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = {"train": Counter(), "holdout": Counter()}
    for split, label in zip(table["split"].to_pylist(), table["label"].to_pylist(), strict=True):
        counts[split][label or "(unlabelled)"] += 1
    return {"rows": table.num_rows, **{split: dict(sorted(c.items())) for split, c in counts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=START.date(), help="first day (UTC)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = datetime(args.start.year, args.start.month, args.start.day, tzinfo=UTC)
    config = SimulationConfig(seed=args.seed, start=start, days=args.days, users=args.users)
    table = training_table(config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.out)
    print(json.dumps({"out": str(args.out), **summary(table)}, indent=1))


if __name__ == "__main__":
    main()
