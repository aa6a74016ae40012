from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unmistakable_rows

from sluice_ml.data import LABELS

ML = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ML)}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ML, check=False)


@pytest.fixture(scope="module")
def trained(parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    result = run("sluice_ml.train", "--data", str(parquet), "--out", str(out), "--profile", "tiny", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    return out


def test_train_writes_every_candidate_and_metrics(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    names = ["linear", "transformer", "transformer_focal", "ensemble"]
    assert list(metrics["candidates"]) == names
    assert all((trained / "candidates" / name / "model.json").is_file() for name in names)
    assert metrics["best"] in names
    assert (metrics["device"], metrics["profile"]) == ("cpu", "tiny")
    assert metrics["data"]["holdout_rows"] == 30
    assert metrics["data"]["class_counts"]["holdout"]["scam"] == 6
    linear = metrics["candidates"]["linear"]
    assert set(linear["per_class"]) == set(LABELS)
    assert len(linear["confusion_matrix"]) == len(LABELS)
    assert linear["macro_f1"] > 0.8  # unmistakable phrasings
    assert metrics["candidates"]["transformer"]["finetune_samples_per_s"] > 0


def test_predict_cli_scores_each_line(trained: Path, tmp_path: Path) -> None:
    rows = unmistakable_rows()
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    target = tmp_path / "out.jsonl"
    result = run(
        "sluice_ml.predict",
        "--model",
        str(trained / "candidates" / "linear"),
        "--input",
        str(source),
        "--output",
        str(target),
    )
    assert result.returncode == 0, result.stderr
    predictions = [json.loads(line) for line in target.read_text().splitlines()]
    assert [p["id"] for p in predictions] == [row["id"] for row in rows]
    assert [p["label"] for p in predictions] == list(LABELS)
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-6 for p in predictions)


def test_predict_cli_names_the_bad_line_and_field(trained: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    good = json.dumps(unmistakable_rows()[0])
    source.write_text(good + "\n" + json.dumps({"id": 9, "title": "우산"}) + "\n")
    result = run(
        "sluice_ml.predict",
        "--model",
        str(trained / "candidates" / "linear"),
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2
    assert "line 2" in result.stderr
    assert "'body'" in result.stderr
