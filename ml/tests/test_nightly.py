"""What the score step writes is what marts/ declares of the predictions mart (mart_listing_predictions.yml), which
Spark and the moderation mart read: the same columns, in order, of the declared types."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from sluice_ml.nightly import scores_table

DECLARED = Path(__file__).resolve().parents[2] / "marts" / "marts" / "mart_listing_predictions.yml"
ARROW = {"bigint": pa.int64(), "string": pa.string(), "double": pa.float64(), "timestamp": pa.timestamp("us", "UTC")}


def test_the_scores_match_the_declared_columns_and_the_argmax() -> None:
    listings = pa.table({"listing_id": pa.array([11, 12], pa.int64())})
    proba = np.array([[0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.05, 0.8, 0.05, 0.0]])
    table = scores_table("listing-moderation", "3", listings, proba)
    columns = yaml.safe_load(DECLARED.read_text())["columns"][:-1]  # dt is the partition folder
    assert table.column_names == [c["name"] for c in columns]
    assert [table.schema.field(c["name"]).type for c in columns] == [ARROW[c["type"]] for c in columns]
    assert table["predicted_label"].to_pylist() == ["normal", "scam"]
    assert table["p_scam"].to_pylist() == pytest.approx([0.1, 0.8])
    assert table["model_version"].to_pylist() == [3, 3]
