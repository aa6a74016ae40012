"""The moderation model's quality and speed at a realistic scale, without the stack: a simulated training set (the
training mart's columns, `moderation_training_set.py`), every candidate trained by the nightly training entry point
(`python -m sluice_ml.train` in the ML environment), then each judged twice: on the held-out day (moderators'
labels) and on `tests/fixtures/listings_handlabelled.jsonl`, listings written by hand, independently of the simulator.

    .venv/bin/python benchmarks/moderation_model.py --days 30 --users 3000            # CPU: tiny transformer
    .venv/bin/python benchmarks/moderation_model.py --profile full --device cuda      # on a GPU machine

Prints macro-F1 and per-class F1 of each candidate on both sets, training seconds, training samples/s (and model
FLOPs utilisation on CUDA) and batch-scoring rows/s, and writes them to benchmarks/results/moderation-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moderation_training_set import START, training_table

from ingestion.simulator import SimulationConfig
from sluice.settings import REPO_ROOT
from sluice.stack.mlflow import ml_process_env, ml_python

LABELS = ("normal", "spam", "scam", "prohibited", "abusive")
HANDLABELLED = REPO_ROOT / "tests" / "fixtures" / "listings_handlabelled.jsonl"
RESULTS = REPO_ROOT / "benchmarks" / "results"


def macro_f1(truth: list[str], predicted: list[str]) -> tuple[float, dict[str, float]]:
    per_class = {}
    for label in LABELS:
        hits = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        claimed, actual = predicted.count(label), truth.count(label)
        per_class[label] = 2 * hits / (claimed + actual) if claimed + actual else 0.0
    return sum(per_class.values()) / len(LABELS), per_class


def ml(*args: str) -> None:
    subprocess.run([ml_python(), "-m", *args], cwd=REPO_ROOT, env={**os.environ, **ml_process_env()}, check=True)


def handlabelled(model_dir: Path, work: Path) -> tuple[float, dict[str, float]]:
    output = work / f"{model_dir.name}.jsonl"
    ml("sluice_ml.predict", "--model", str(model_dir), "--input", str(HANDLABELLED), "--output", str(output))
    truth = {row["id"]: row["label"] for row in map(json.loads, HANDLABELLED.read_text().splitlines())}
    predicted = {row["id"]: row["label"] for row in map(json.loads, output.read_text().splitlines())}
    return macro_f1([truth[i] for i in truth], [predicted[i] for i in truth])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--profile", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "training.parquet"
        pq.write_table(training_table(SimulationConfig(start=START, days=args.days, users=args.users)), data)
        ml("sluice_ml.train", "--data", str(data), "--out", str(work / "out"), "--profile", args.profile,
           "--device", args.device)  # fmt: skip
        metrics = json.loads((work / "out" / "metrics.json").read_text())
        for name, candidate in metrics["candidates"].items():
            candidate["handlabelled_macro_f1"], candidate["handlabelled_f1"] = handlabelled(
                work / "out" / "candidates" / name, work
            )
    print(f"\n{metrics['data']['train_rows']} labelled train rows, {metrics['data']['holdout_rows']} held out; "
          f"device {metrics['device']}, transformer profile {metrics['profile']}")  # fmt: skip
    print(f"{'candidate':<18}{'held-out':>9}{'hand':>7}" + "".join(f"{label:>11}" for label in LABELS)
          + f"{'train s':>9}{'score rows/s':>14}")  # fmt: skip
    for name, c in metrics["candidates"].items():
        per_class = "".join(f"{c['per_class'][label]['f1']:>11.3f}" for label in LABELS)
        print(f"{name:<18}{c['macro_f1']:>9.3f}{c['handlabelled_macro_f1']:>7.3f}{per_class}"
              f"{c['train_seconds']:>9.1f}{c['score_rows_per_s']:>14,.0f}")  # fmt: skip
        speed = {k: v for k, v in c["params"].items() if "samples_per_s" in k or "mfu" in k}
        if speed:
            print(f"{'':<18}{speed}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"moderation-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"args": vars(args), **metrics}, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
