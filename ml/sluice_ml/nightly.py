"""The nightly model's steps, each a command of the ML environment that the DAG runs (locally as a process, on
Kubernetes as a pod of the ML image): `python -m sluice_ml.nightly {train,register,score} --date YYYY-MM-DD`.

    train     the training mart's partition -> candidates and their held-out metrics in the lake (a GPU pod)
    register  one MLflow run per candidate; the best becomes a version (alias challenger) and replaces the champion
              only if it beats the champion's macro-F1 on the same held-out listings by the set margin
    score     the champion scores the day's new listings into the predictions mart's partition

Steps hand over through the lake (models/candidates/dt=…/), never through local files, so each can run
anywhere and be cleared and re-run on its own. Settings are Sluice's (SLUICE_* variables).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sluice import lake
from sluice.objectstore import S3Client, delete_keys, list_objects, s3_client
from sluice.settings import Settings, load_settings
from sluice_ml.data import LABELS

# In the night's folder (lake.nightly_prefix): train's metrics, register's decision, score's result.
METRICS = "metrics.json"
DECISION = "decision.json"
SCORED = "scored.json"


def _keys(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    return [item["Key"] for item in list_objects(s3, bucket, prefix)]


def download_prefix(s3: S3Client, bucket: str, prefix: str, into: Path) -> list[Path]:
    files = []
    for key in _keys(s3, bucket, prefix):
        target = into / key.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        files.append(target)
    return files


def read_partition(settings: Settings, layer: str, model: str, ds: date) -> pa.Table:
    """One published partition of a model's table (Spark's part files), with its dt column."""
    s3, prefix = s3_client(settings), lake.partition_prefix(layer, model, ds)
    with tempfile.TemporaryDirectory() as tmp:
        files = download_prefix(s3, settings.lake_bucket, prefix, Path(tmp))
        parts = [path for path in files if path.suffix == ".parquet"]
        if not parts:
            raise SystemExit(
                f"no Parquet files under s3://{settings.lake_bucket}/{prefix}: build {model} for {ds} first "
                f"(the marts DAG, or `sluice marts build {model} --date {ds}`)"
            )
        table = pa.concat_tables(pq.read_table(path) for path in sorted(parts))
    return table.append_column("dt", pa.array([ds] * table.num_rows, pa.date32()))


def transformer_profile(settings: Settings) -> str:
    if settings.ml_transformer_profile != "auto":
        return settings.ml_transformer_profile
    import torch

    return "full" if torch.cuda.is_available() else "tiny"


def train_step(settings: Settings, ds: date) -> dict[str, Any]:
    from sluice_ml.train import CANDIDATES, train

    s3, prefix = s3_client(settings), lake.nightly_prefix(ds)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "training.parquet"
        pq.write_table(read_partition(settings, "marts", lake.TRAINING_SET, ds), data)
        out = Path(tmp) / "out"
        metrics = train(data, out, transformer_profile(settings), "auto", seed=7, candidates=CANDIDATES)
        delete_keys(s3, settings.lake_bucket, _keys(s3, settings.lake_bucket, prefix))  # a re-run replaces
        for path in sorted(out.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), settings.lake_bucket, prefix + path.relative_to(out).as_posix())
    return metrics


def _holdout_macro_f1(model_dir: Path, settings: Settings, ds: date) -> float:
    """The champion's macro-F1 on the same held-out listings the candidates were judged on."""
    from sluice_ml import data
    from sluice_ml.evaluate import report
    from sluice_ml.models import load_model

    holdout = data.split(read_partition(settings, "marts", lake.TRAINING_SET, ds)).holdout
    proba = load_model(model_dir).predict_proba(data.rows(holdout))
    return float(report(data.labels(holdout), proba)["macro_f1"])


def register_step(settings: Settings, ds: date) -> dict[str, Any]:
    from sluice_ml import registry
    from sluice_ml.promotion import decide

    s3, prefix = s3_client(settings), lake.nightly_prefix(ds)
    client = registry.connect(settings.mlflow_url)
    name = settings.ml_model_name
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        download_prefix(s3, settings.lake_bucket, prefix, folder)
        if not (folder / METRICS).exists():
            raise SystemExit(f"no {METRICS} under s3://{settings.lake_bucket}/{prefix}: run the train step first")
        metrics = json.loads((folder / METRICS).read_text())
        runs = {
            candidate: registry.log_candidate(
                candidate, folder / "candidates" / candidate, evaluation, metrics["data"], str(ds), metrics["profile"]
            )
            for candidate, evaluation in metrics["candidates"].items()
        }
        best = metrics["best"]
        best_f1 = float(metrics["candidates"][best]["macro_f1"])
        version = registry.register(client, name, runs[best], {"candidate": best, "training_ds": str(ds)})
        champion = registry.alias_version(client, name, registry.CHAMPION)
        champion_f1 = None
        if champion is not None:
            champion_f1 = _holdout_macro_f1(registry.download(name, champion, folder / "champion"), settings, ds)
        decision = decide(best_f1, champion_f1, settings.ml_promotion_margin)
        if decision.promote:
            registry.promote(client, name, version, decision.reason)
    summary = {
        "ds": str(ds),
        "model": name,
        "candidates": {
            candidate: {
                "macro_f1": evaluation["macro_f1"],
                "f1": {label: evaluation["per_class"][label]["f1"] for label in LABELS},
            }
            for candidate, evaluation in metrics["candidates"].items()
        },
        "best": best,
        "version": version,
        "champion_before": champion,
        "champion_before_macro_f1": champion_f1,
        "promoted": decision.promote,
        "reason": decision.reason,
        "champion": version if decision.promote else champion,
        "profile": metrics["profile"],
        "device": metrics["device"],
        "data": metrics["data"],
    }
    s3.put_object(Bucket=settings.lake_bucket, Key=prefix + DECISION, Body=json.dumps(summary, indent=1).encode())
    return summary


def scores_table(model_name: str, version: str, listings: pa.Table, proba: np.ndarray) -> pa.Table:
    n = listings.num_rows
    columns: dict[str, pa.Array] = {
        "listing_id": listings["listing_id"],
        "predicted_label": pa.array([LABELS[i] for i in proba.argmax(axis=1)], pa.string()),
    }
    for i, label in enumerate(LABELS):
        columns[f"p_{label}"] = pa.array(proba[:, i].astype(float), pa.float64())
    columns["model_name"] = pa.array([model_name] * n, pa.string())
    columns["model_version"] = pa.array([int(version)] * n, pa.int64())
    columns["scored_at"] = pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC"))  # Spark's timestamp
    return pa.table(columns)


def score_step(settings: Settings, ds: date) -> dict[str, Any]:
    from sluice_ml import data, registry
    from sluice_ml.models import load_model

    client = registry.connect(settings.mlflow_url)
    name = settings.ml_model_name
    version = registry.alias_version(client, name, registry.CHAMPION)
    if version is None:
        raise SystemExit(f"{name} has no champion yet: run the register step (the nightly DAG) first")
    layer, model = lake.NEW_LISTINGS
    listings = read_partition(settings, layer, model, ds)
    rows = data.rows(listings)
    with tempfile.TemporaryDirectory() as tmp:
        proba = load_model(registry.download(name, version, Path(tmp))).predict_proba(rows)
    s3, prefix = s3_client(settings), lake.partition_prefix("marts", lake.PREDICTIONS, ds)
    stale = _keys(s3, settings.lake_bucket, prefix)
    sink = pa.BufferOutputStream()
    pq.write_table(scores_table(name, version, listings, proba), sink)
    key = f"{prefix}part-v{version}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.parquet"
    s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=sink.getvalue().to_pybytes())
    delete_keys(s3, settings.lake_bucket, [k for k in stale if k != key])  # the new file first: never empty
    result = {"ds": str(ds), "rows": len(rows), "model": name, "version": version, "key": key}
    s3.put_object(Bucket=settings.lake_bucket, Key=lake.nightly_prefix(ds) + SCORED, Body=json.dumps(result).encode())
    return result


STEPS = {"train": train_step, "register": register_step, "score": score_step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sluice_ml.nightly", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="the day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    result = STEPS[args.step](load_settings(), args.date)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
