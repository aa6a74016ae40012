"""Holdout metrics of a model's probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from sluice_ml.data import LABELS


def predicted_labels(proba: np.ndarray) -> np.ndarray:
    return np.asarray(LABELS, dtype=object)[np.argmax(proba, axis=1)]


def report(y_true: Sequence[str] | np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, macro-F1 (over all LABELS, absent classes count as 0), accuracy
    and the confusion matrix (rows true, columns predicted, in LABELS order)."""
    y_pred = predicted_labels(proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(LABELS), zero_division=0
    )
    return {
        "macro_f1": float(np.mean(f1)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(LABELS, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
    }
