from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import probabilities_ok, unmistakable_rows

from sluice_ml.data import LABELS
from sluice_ml.ensemble import Ensemble
from sluice_ml.linear import LinearModel
from sluice_ml.models import load_model


def test_linear_model_classifies_unmistakable_listings(linear_model: LinearModel) -> None:
    proba = linear_model.predict_proba(unmistakable_rows())
    assert probabilities_ok(proba, len(LABELS))
    assert [LABELS[i] for i in proba.argmax(axis=1)] == list(LABELS)
    assert linear_model.params["C"] in (0.5, 2.0, 8.0)


def test_tiny_transformer_gives_probabilities_that_survive_save_and_load(
    transformer_model: Any, tmp_path: Path
) -> None:
    rows = unmistakable_rows()
    proba = transformer_model.predict_proba(rows)
    assert probabilities_ok(proba, len(rows))
    assert transformer_model.params["finetune_steps"] >= 1
    assert transformer_model.params["mlm_samples_per_s"] > 0
    transformer_model.save(tmp_path)
    assert {"model.json", "tokenizer.model", "bert"} <= {p.name for p in tmp_path.iterdir()}
    loaded = load_model(tmp_path, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(rows), proba, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "transformer", "ensemble"])
def test_load_model_round_trips_each_kind(
    kind: str, linear_model: LinearModel, transformer_model: Any, tmp_path: Path
) -> None:
    model = {
        "linear": linear_model,
        "transformer": transformer_model,
        "ensemble": Ensemble([linear_model, transformer_model]),
    }[kind]
    model.save(tmp_path / "saved")
    loaded = load_model(tmp_path / "saved", device="cpu")
    assert json.loads((tmp_path / "saved" / "model.json").read_text())["kind"] == kind
    assert (type(loaded), loaded.name) == (type(model), model.name)
    rows = unmistakable_rows()
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-5)


def test_ensemble_averages_its_members(linear_model: LinearModel, transformer_model: Any) -> None:
    rows = unmistakable_rows()
    expected = (linear_model.predict_proba(rows) + transformer_model.predict_proba(rows)) / 2
    np.testing.assert_allclose(Ensemble([linear_model, transformer_model]).predict_proba(rows), expected)


def test_load_model_names_a_directory_without_model_json(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a saved moderation model"):
        load_model(tmp_path)
