"""Hand-made listings: a few unmistakable phrasings per label, in Korean and English, over five days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice_ml import data
from sluice_ml.linear import LinearModel

PHRASES = {
    "normal": [
        ("아이폰 13 팝니다", "사용감 거의 없어요. 직거래 원해요.", "ko"),
        ("wooden desk for sale", "A few small scratches. Pick-up only.", "en"),
        ("유모차 판매해요", "박스 풀구성입니다. 퇴근 후 거래 가능해요.", "ko"),
        ("air fryer like new", "Used only a couple of times. Open to offers.", "en"),
    ],
    "spam": [
        ("도매 최저가 보장", "도매가로 판매합니다. 대량 구매 문의 환영. 다른 상품도 많아요 프로필 확인", "ko"),
        ("wholesale stock", "Wholesale prices, bulk orders welcome, new stock every day, check my profile", "en"),
    ],
    "scam": [
        ("급처 오늘만", "카톡으로 연락주세요. 선입금 후 택배 발송해요. 안전결제 링크 보내드려요", "ko"),
        ("today only", "Message me on KakaoTalk, pay first and I ship, I will send a safe payment link", "en"),
    ],
    "prohibited": [
        ("전자담배 미개봉", "처방전 필요 없어요. 다이어트약 양주 담배 해외 직구 제품", "ko"),
        ("diet pills", "No prescription needed. E-cigarette, whisky, cigarettes bought overseas", "en"),
    ],
    "abusive": [
        ("거지들 사절", "찔러보기 하면 차단합니다. 상식 없는 사람 연락하지 마세요. 말귀 못 알아들으면 연락 ㄴㄴ", "ko"),
        (
            "idiots stay away",
            "Lowballers will be blocked, idiots. Don't waste my time, losers. Cheapskates stay away",
            "en",
        ),
    ],
}
PRICES = {"normal": 250_000, "spam": 9_000, "scam": 50_000, "prohibited": 30_000, "abusive": 70_000}
START = datetime(2026, 10, 1, 9, tzinfo=UTC)


def listing(listing_id: int, label: str, variant: int, created: datetime, labelled: bool, split: str) -> dict[str, Any]:
    title, body, lang = PHRASES[label][variant % len(PHRASES[label])]
    return {
        "listing_id": listing_id,
        "created_at": created,
        "title": f"{title} {variant}",  # no two rows alike
        "body": body,
        "price": PRICES[label] + 1000 * variant,
        "category": "etc",
        "lang": lang,
        "label": label if labelled else None,
        "split": split,
        "dt": date(2026, 10, 5),
    }


def training_rows(per_label: int = 6) -> list[dict[str, Any]]:
    """Days 1-4 train (every third row unlabelled), day 5 holdout: each label `per_label` times per split."""
    rows = []
    for label in data.LABELS:
        for variant in range(per_label * 2):  # the unlabelled third of the train rows comes on top
            day = variant % 4
            rows.append(
                listing(
                    len(rows) + 1,
                    label,
                    variant,
                    START + timedelta(days=day, minutes=variant),
                    variant % 3 != 2,
                    "train",
                )
            )
        for variant in range(per_label):
            rows.append(
                listing(len(rows) + 1, label, variant, START + timedelta(days=4, minutes=variant), True, "holdout")
            )
    return rows


def training_table(rows: list[dict[str, Any]] | None = None) -> pa.Table:
    return pa.Table.from_pylist(training_rows() if rows is None else rows, schema=data.SCHEMA)


@pytest.fixture(scope="session")
def table() -> pa.Table:
    return training_table()


@pytest.fixture(scope="session")
def parquet(tmp_path_factory: pytest.TempPathFactory, table: pa.Table) -> Path:
    path = tmp_path_factory.mktemp("mart") / "training.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="session")
def parts(table: pa.Table) -> data.Split:
    return data.split(table)


@pytest.fixture(scope="session")
def linear_model(parts: data.Split) -> LinearModel:
    return LinearModel.fit(data.rows(parts.train), data.labels(parts.train), seed=1)


@pytest.fixture(scope="session")
def transformer_model(parts: data.Split) -> Any:
    from sluice_ml.transformer import TransformerModel

    unlabelled = [data.model_text(row) for row in data.rows(parts.unlabelled)]
    return TransformerModel.fit(
        data.rows(parts.train), data.labels(parts.train), unlabelled, profile="tiny", device="cpu", seed=1
    )


UNMISTAKABLE = {
    "normal": {"title": "책상 팝니다", "body": "생활기스 조금 있어요. 직거래 원해요.", "price": 70_000},
    "spam": {"title": "wholesale", "body": "Bulk orders welcome, wholesale prices, check my profile", "price": 9_000},
    "scam": {"title": "급처", "body": "카톡으로 연락주세요 선입금 후 택배 발송해요", "price": 50_000},
    "prohibited": {"title": "e-cigarette", "body": "No prescription needed, bought overseas", "price": 30_000},
    "abusive": {
        "title": "거지들 사절",
        "body": "찔러보기 하면 차단합니다 상식 없는 사람 연락하지 마세요",
        "price": 70_000,
    },
}


def unmistakable_rows() -> list[dict[str, Any]]:
    return [{"id": i, "category": "etc", "lang": "ko", **fields} for i, fields in enumerate(UNMISTAKABLE.values())]


def probabilities_ok(proba: np.ndarray, n: int) -> bool:
    return proba.shape == (n, len(data.LABELS)) and bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-5))
