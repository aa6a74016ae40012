from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import training_rows, training_table

from sluice_ml import data


def test_reading_a_file_without_the_mart_columns_names_them(tmp_path: Path, table: pa.Table) -> None:
    path = tmp_path / "partial.parquet"
    pq.write_table(table.drop_columns(["label", "split"]), path)
    with pytest.raises(ValueError, match=r"\['label', 'split'\]"):
        data.read_training_set(path)


def test_split_leaks_no_listing_and_holdout_is_the_most_recent(parts: data.Split) -> None:
    train_ids = set(parts.train["listing_id"].to_pylist()) | set(parts.unlabelled["listing_id"].to_pylist())
    assert not train_ids & set(parts.holdout["listing_id"].to_pylist())
    latest_train = max(pc.max(parts.train["created_at"]).as_py(), pc.max(parts.unlabelled["created_at"]).as_py())
    assert pc.min(parts.holdout["created_at"]).as_py() > latest_train


def test_split_keeps_labelled_and_unlabelled_apart(parts: data.Split) -> None:
    assert parts.train["label"].null_count == 0
    assert parts.holdout["label"].null_count == 0
    assert parts.unlabelled["label"].null_count == parts.unlabelled.num_rows > 0
    assert set(parts.unlabelled["split"].to_pylist()) == {"train"}


def test_split_without_labelled_holdout_rows_says_what_to_do() -> None:
    rows = [row for row in training_rows() if row["split"] == "train"]
    with pytest.raises(ValueError, match="no labelled holdout rows: moderate more"):
        data.split(training_table(rows))


def test_split_refuses_a_listing_in_both_train_and_holdout() -> None:
    rows = training_rows()
    holdout = next(row for row in rows if row["split"] == "holdout")
    rows.append({**holdout, "split": "train"})
    with pytest.raises(ValueError, match="in both train and holdout"):
        data.split(training_table(rows))


def test_oversampling_lifts_every_class_to_the_largest_keeping_originals() -> None:
    labels = np.array(["a"] * 6 + ["b"] * 2 + ["c"] * 1)
    picked = data.oversample(labels, seed=3)
    values, counts = np.unique(labels[picked], return_counts=True)
    assert dict(zip(values, counts, strict=True)) == {"a": 6, "b": 6, "c": 6}
    assert set(range(len(labels))) <= set(picked.tolist())
    assert sorted(picked[labels[picked] == "a"].tolist()) == list(range(6))  # the largest class is not resampled


def test_model_text_carries_title_body_category_and_a_price_bucket() -> None:
    row = {"title": "\uff26\uff32\uff25\uff25 우산", "body": "Pick-up only", "price": 30_000, "category": "etc"}
    text = data.model_text(row)
    assert text.startswith("FREE 우산")  # full-width letters folded
    assert text.endswith("Pick-up only | etc price_8")
    assert data.price_token(0) == "price_free"
    assert data.price_token(None) == "price_none"
    assert data.price_token(9_000) != data.price_token(90_000)


def test_rows_carry_the_fields_predict_files_carry(parts: data.Split) -> None:
    first = data.rows(parts.holdout)[0]
    assert set(first) == set(data.ROW_FIELDS)
    assert first["id"] == parts.holdout["listing_id"][0].as_py()
