"""The training mart as the models see it: its columns, the train/holdout split, oversampling and the model's text."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LABELS = ("normal", "spam", "scam", "prohibited", "abusive")
# mart_moderation_training's columns (marts/marts/mart_moderation_training.yml), as Arrow reads them.
SCHEMA = pa.schema(
    [
        ("listing_id", pa.int64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("title", pa.string()),
        ("body", pa.string()),
        ("price", pa.int64()),
        ("category", pa.string()),
        ("lang", pa.string()),
        ("label", pa.string()),  # null: not moderated yet
        ("split", pa.string()),  # train or holdout
        ("dt", pa.date32()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
ROW_FIELDS = ("id", "title", "body", "price", "category", "lang")  # what a row to score carries


def read_training_set(path: str | Path) -> pa.Table:
    table = pq.read_table(path)
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"{path} lacks the training mart's columns {missing}; it has {table.column_names}")
    unknown = set(pc.unique(table["label"].drop_null()).to_pylist()) - set(LABELS)
    if unknown:
        raise ValueError(f"{path} has labels {sorted(unknown)} outside {LABELS}")
    return table


@dataclass(frozen=True)
class Split:
    train: pa.Table  # labelled rows of split "train"
    holdout: pa.Table  # labelled rows of split "holdout"
    unlabelled: pa.Table  # unlabelled rows of split "train": text for pre-training only


def split(table: pa.Table) -> Split:
    labelled = pc.is_valid(table["label"])
    is_train = pc.equal(table["split"], "train")
    is_holdout = pc.equal(table["split"], "holdout")
    parts = Split(
        train=table.filter(pc.and_(is_train, labelled)),
        holdout=table.filter(pc.and_(is_holdout, labelled)),
        unlabelled=table.filter(pc.and_(is_train, pc.invert(labelled))),
    )
    for name in ("train", "holdout"):
        if getattr(parts, name).num_rows == 0:
            raise ValueError(
                f"the training set has no labelled {name} rows: moderate more listings or take more days of data "
                f"(split column values: {pc.unique(table['split']).to_pylist()})"
            )
    leaked = set(parts.train["listing_id"].to_pylist()) & set(table.filter(is_holdout)["listing_id"].to_pylist())
    if leaked:
        raise ValueError(f"{len(leaked)} listings are in both train and holdout, e.g. {sorted(leaked)[:5]}")
    return parts


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows to score, as predict files carry them."""
    columns = {name: table[name].to_pylist() for name in ("listing_id", *ROW_FIELDS[1:])}
    return [dict(zip(ROW_FIELDS, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def labels(table: pa.Table) -> np.ndarray:
    return np.asarray(table["label"].to_pylist(), dtype=object)


def oversample(labels: np.ndarray, seed: int) -> np.ndarray:
    """Row indices, shuffled, where every class is drawn with replacement up to the largest class's count; each
    original row is kept once."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    target = counts.max()
    picked = []
    for cls, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == cls)
        picked += [members, rng.choice(members, size=target - count, replace=True)]
    return rng.permutation(np.concatenate(picked))


def price_token(price: int | None) -> str:
    """Half-decade buckets of the asking price: coarse enough for any currency wording, fine enough to catch a price
    far below the item's usual one."""
    if price is None:
        return "price_none"
    if price <= 0:
        return "price_free"
    return f"price_{math.floor(2 * math.log10(price))}"


def model_text(row: Mapping[str, Any]) -> str:
    """The one text every model reads: NFKC folds full-width and compatibility characters, so text typed on another
    keyboard reads the same."""
    title, body, category = (row.get(name) or "" for name in ("title", "body", "category"))
    text = f"{title} | {body} | {category} {price_token(row.get('price'))}"
    return unicodedata.normalize("NFKC", text)
