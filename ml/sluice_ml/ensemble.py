"""Averaged probabilities of member models."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sluice_ml.data import LABELS

if TYPE_CHECKING:
    from sluice_ml.models import Model

MEMBERS_DIR = "members"


class Ensemble:
    kind = "ensemble"

    def __init__(self, members: Sequence[Model], name: str = "ensemble") -> None:
        names = [member.name for member in members]
        if not members or len(set(names)) != len(names):
            raise ValueError(f"an ensemble needs members with distinct names, got {names}")
        self.members = list(members)
        self.name = name
        self.params: dict[str, Any] = {"members": names}

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.mean([member.predict_proba(rows) for member in self.members], axis=0)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for member in self.members:
            member.save(directory / MEMBERS_DIR / member.name)
        meta = {"kind": self.kind, "name": self.name, "labels": list(LABELS), "params": self.params}
        (directory / "model.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path, meta: Mapping[str, Any], load_member: Callable[[Path], Model]) -> Ensemble:
        members = [load_member(Path(directory) / MEMBERS_DIR / name) for name in meta["params"]["members"]]
        return cls(members, name=meta["name"])
