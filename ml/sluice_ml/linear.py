"""The CPU model: character n-grams of the model text and a class-balanced logistic regression."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from sluice_ml.data import LABELS, model_text

PIPELINE_FILE = "pipeline.joblib"
# Character n-grams within word boundaries survive typos, spacing and Korean particles that word tokens would not.
NGRAM_RANGE = (1, 4)
C_GRID = (0.5, 2.0, 8.0)
MAX_FOLDS = 3


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, min_df=2)),
            ("clf", LogisticRegression(class_weight="balanced", max_iter=2000)),
        ]
    )


class LinearModel:
    kind = "linear"

    def __init__(self, pipeline: Pipeline, name: str = "linear", params: Mapping[str, Any] | None = None) -> None:
        classes = list(pipeline.classes_)
        if sorted(classes) != sorted(LABELS):
            raise ValueError(f"the pipeline's classes {classes} are not {LABELS}")
        # sklearn sorts classes_; columns are returned in LABELS order.
        self._order = [classes.index(label) for label in LABELS]
        self.pipeline = pipeline
        self.name = name
        self.params = dict(params or {})

    @classmethod
    def fit(
        cls, rows: Sequence[Mapping[str, Any]], labels: np.ndarray, seed: int = 0, name: str = "linear"
    ) -> LinearModel:
        """Picks C by stratified k-fold macro-F1 on these rows, then refits on all of them."""
        texts = [model_text(row) for row in rows]
        labels = np.asarray(labels, dtype=object)
        folds = min(MAX_FOLDS, *np.unique(labels, return_counts=True)[1])
        if set(labels) != set(LABELS):
            raise ValueError(f"training rows lack classes {sorted(set(LABELS) - set(labels))}")
        if folds < 2:
            raise ValueError("every class needs at least 2 labelled training rows for cross-validation")
        # Refitting the vectorizer per fit costs less than joblib's cache of it (hashing and pickling the matrices).
        search = GridSearchCV(
            _pipeline(),
            {"clf__C": list(C_GRID)},
            scoring="f1_macro",
            cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        )
        search.fit(texts, labels)
        best: Pipeline = search.best_estimator_
        params = {
            "C": search.best_params_["clf__C"],
            "cv_macro_f1": float(search.best_score_),
            "cv_folds": folds,
            "ngram_range": list(NGRAM_RANGE),
            "features": len(best.named_steps["tfidf"].vocabulary_),
        }
        return cls(best, name=name, params=params)

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba([model_text(row) for row in rows]))[:, self._order]

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, directory / PIPELINE_FILE)
        meta = {"kind": self.kind, "name": self.name, "labels": list(LABELS), "params": self.params}
        (directory / "model.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path, meta: Mapping[str, Any]) -> LinearModel:
        return cls(joblib.load(Path(directory) / PIPELINE_FILE), name=meta["name"], params=meta.get("params"))
