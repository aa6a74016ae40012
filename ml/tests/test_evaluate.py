from __future__ import annotations

import numpy as np
import pytest

from sluice_ml.evaluate import report


def test_report_on_three_rows_matches_hand_computed_numbers() -> None:
    # true: normal, spam, spam; predicted: normal, spam, normal
    proba = np.array(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0],
            [0.2, 0.7, 0.1, 0.0, 0.0],
            [0.6, 0.3, 0.1, 0.0, 0.0],
        ]
    )
    result = report(["normal", "spam", "spam"], proba)
    normal, spam, scam = (result["per_class"][label] for label in ("normal", "spam", "scam"))
    assert (normal["precision"], normal["recall"], normal["support"]) == (0.5, 1.0, 1)
    assert normal["f1"] == pytest.approx(2 / 3)
    assert (spam["precision"], spam["recall"], spam["support"]) == (1.0, 0.5, 2)
    assert spam["f1"] == pytest.approx(2 / 3)
    assert scam == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 5)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["confusion_matrix"][:2] == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
