"""Train the moderation candidates on the training mart, score each on the holdout rows, and write every model and
metrics.json under one directory (plain files: registering them is another step's job).

    python -m sluice_ml.train --data training.parquet --out DIR [--profile tiny|full] [--device auto|cpu|cuda]
                              [--seed N] [--candidates linear,transformer,transformer_focal,ensemble]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sluice_ml import data, evaluate
from sluice_ml.ensemble import Ensemble
from sluice_ml.linear import LinearModel
from sluice_ml.models import Model

CANDIDATES = ("linear", "transformer", "transformer_focal", "ensemble")
TRANSFORMERS = {"transformer": "ce", "transformer_focal": "focal"}  # candidate name -> fine-tuning loss


def _created(table: pa.Table) -> list[str] | None:
    if table.num_rows == 0:
        return None
    bounds = pc.min_max(table["created_at"])
    return [bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()]


def describe(table: pa.Table, parts: data.Split) -> dict[str, Any]:
    def counts(part: pa.Table) -> dict[str, int]:
        found = Counter(part["label"].to_pylist())
        return {label: found[label] for label in data.LABELS}

    return {
        "rows": table.num_rows,
        "train_rows": parts.train.num_rows,
        "holdout_rows": parts.holdout.num_rows,
        "unlabelled_rows": parts.unlabelled.num_rows,
        "train_created": _created(parts.train),
        "holdout_created": _created(parts.holdout),
        "class_counts": {"train": counts(parts.train), "holdout": counts(parts.holdout)},
    }


def score(model: Model, rows: list[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proba = model.predict_proba(rows)
    seconds = time.perf_counter() - started
    return {**evaluate.report(labels, proba), "score_rows_per_s": len(rows) / max(seconds, 1e-9)}


def _throughput(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key.endswith(("_per_s", "_mfu"))}


class Run:
    """One training run: the data, its settings and the candidates trained so far."""

    def __init__(self, table: pa.Table, profile: str, device: str, seed: int) -> None:
        self.parts = data.split(table)
        self.profile = profile
        self.device = device
        self.seed = seed
        self.train_rows = data.rows(self.parts.train)
        self.train_labels = data.labels(self.parts.train)
        self.holdout_rows = data.rows(self.parts.holdout)
        self.holdout_labels = data.labels(self.parts.holdout)
        self.models: dict[str, Model] = {}
        self.metrics: dict[str, dict[str, Any]] = {}

    def train(self, name: str) -> Model:
        if name == "linear":
            return LinearModel.fit(self.train_rows, self.train_labels, seed=self.seed, name=name)
        if name in TRANSFORMERS:
            # torch takes seconds to import; a linear-only run never needs it.
            from sluice_ml.transformer import TransformerModel

            unlabelled = [data.model_text(row) for row in data.rows(self.parts.unlabelled)]
            return TransformerModel.fit(
                self.train_rows,
                self.train_labels,
                unlabelled,
                profile=self.profile,
                loss=TRANSFORMERS[name],
                device=self.device,
                seed=self.seed,
                name=name,
            )
        # The ensemble: linear and the better transformer on the holdout (so its holdout score is a little optimistic).
        best = max((n for n in TRANSFORMERS if n in self.metrics), key=lambda n: self.metrics[n]["macro_f1"])
        return Ensemble([self.models["linear"], self.models[best]], name=name)

    def add(self, name: str, out: Path) -> None:
        started = time.perf_counter()
        model = self.train(name)
        seconds = time.perf_counter() - started
        if isinstance(model, Ensemble):  # nothing of its own to train: its members' time
            seconds = sum(self.metrics[member.name]["train_seconds"] for member in model.members)
        model.save(out / "candidates" / name)
        self.models[name] = model
        self.metrics[name] = {
            **score(model, self.holdout_rows, self.holdout_labels),
            "params": model.params,
            "train_seconds": seconds,
            **_throughput(model.params),
        }


def _device_name(device: str, candidates: Sequence[str]) -> str:
    if not any(name in TRANSFORMERS for name in candidates):
        return "cpu"
    from sluice_ml.transformer import resolve_device

    return resolve_device(device).type


def train(
    data_path: Path, out: Path, profile: str, device: str, seed: int, candidates: Sequence[str]
) -> dict[str, Any]:
    table = data.read_training_set(data_path)
    run = Run(table, profile, device, seed)
    for name in candidates:
        run.add(name, out)
    metrics = {
        "data": describe(table, run.parts),
        "candidates": run.metrics,
        "best": max(run.metrics, key=lambda name: run.metrics[name]["macro_f1"]),
        "device": _device_name(device, candidates),
        "profile": profile,
        "seed": seed,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def table_text(metrics: dict[str, Any]) -> str:
    header = f"{'candidate':<18}{'macro_f1':>9}" + "".join(f"{label:>11}" for label in data.LABELS) + f"{'train_s':>9}"
    lines = [header]
    for name, result in metrics["candidates"].items():
        f1s = "".join(f"{result['per_class'][label]['f1']:>11.3f}" for label in data.LABELS)
        lines.append(f"{name:<18}{result['macro_f1']:>9.3f}{f1s}{result['train_seconds']:>9.1f}")
    lines.append(f"best: {metrics['best']} ({metrics['device']}, profile {metrics['profile']})")
    return "\n".join(lines)


def _candidates(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown candidates {unknown}; choose from {','.join(CANDIDATES)}")
    if "ensemble" in names and ("linear" not in names or not set(names) & set(TRANSFORMERS)):
        raise argparse.ArgumentTypeError("ensemble needs linear and transformer or transformer_focal as candidates")
    return sorted(names, key=CANDIDATES.index)  # the ensemble comes after its members


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sluice_ml.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the training mart as Parquet")
    parser.add_argument("--out", type=Path, required=True, help="gets candidates/<name>/ and metrics.json")
    parser.add_argument("--profile", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=_candidates, default=list(CANDIDATES))
    args = parser.parse_args(argv)
    metrics = train(args.data, args.out, args.profile, args.device, args.seed, args.candidates)
    print(table_text(metrics))


if __name__ == "__main__":
    main()
