"""The one interface every moderation model offers, and loading any saved one from its directory."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sluice_ml.data import LABELS
from sluice_ml.ensemble import Ensemble
from sluice_ml.linear import LinearModel

META_FILE = "model.json"


class Model(Protocol):
    name: str
    params: dict[str, Any]

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Shape (len(rows), len(LABELS)), columns in LABELS order, rows summing to 1."""
        ...

    def save(self, directory: str | Path) -> None:
        """A self-contained directory with model.json; load_model reads it back anywhere."""
        ...


def load_model(directory: str | Path, device: str = "auto") -> Model:
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} is missing: {directory} is not a saved moderation model")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    if tuple(meta.get("labels", ())) != LABELS:
        raise ValueError(f"{meta_path} was saved for labels {meta.get('labels')}, this code has {LABELS}")
    kind = meta.get("kind")
    if kind == "linear":
        return LinearModel.load(directory, meta)
    if kind == "transformer":
        # torch takes seconds to import; linear models never need it.
        from sluice_ml.transformer import TransformerModel

        return TransformerModel.load(directory, meta, device=device)
    if kind == "ensemble":
        return Ensemble.load(directory, meta, lambda path: load_model(path, device))
    raise ValueError(f"{meta_path} has kind {kind!r}; expected linear, transformer or ensemble")
