"""Batch prediction with a saved model: one JSON object per line in, one per line out.

python -m sluice_ml.predict --model DIR --input in.jsonl --output out.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sluice_ml.data import LABELS, ROW_FIELDS
from sluice_ml.evaluate import predicted_labels
from sluice_ml.models import Model, load_model


def predict_rows(model: Model, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """{"id", "label", "probabilities": {label: p}} per row, in order."""
    if not rows:
        return []
    proba = model.predict_proba(rows)
    return [
        {"id": row["id"], "label": label, "probabilities": dict(zip(LABELS, map(float, p), strict=True))}
        for row, label, p in zip(rows, predicted_labels(proba), proba, strict=True)
    ]


def read_rows(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source} line {number}: not JSON ({error})") from error
        if not isinstance(row, dict):
            raise ValueError(f"{source} line {number}: expected a JSON object, got {type(row).__name__}")
        missing = [name for name in ROW_FIELDS if name not in row]
        if missing:
            raise ValueError(f"{source} line {number}: missing field(s) {missing}; each row needs {list(ROW_FIELDS)}")
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sluice_ml.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a saved model directory (with model.json)")
    parser.add_argument("--input", type=Path, required=True, help="JSON lines with fields " + ", ".join(ROW_FIELDS))
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args(argv)
    with args.input.open(encoding="utf-8") as lines:
        try:
            rows = read_rows(lines, str(args.input))
        except ValueError as error:
            parser.exit(2, f"error: {error}\n")
    predictions = predict_rows(load_model(args.model, args.device), rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as out:
        for prediction in predictions:
            out.write(json.dumps(prediction, ensure_ascii=False) + "\n")
    print(f"{len(predictions)} rows scored into {args.output}")


if __name__ == "__main__":
    main()
