"""The promotion rule on hand-made numbers: better by more than the margin -> promoted; otherwise the champion stays;
no champion yet -> the candidate becomes it."""

import pytest

from sluice_ml.promotion import decide


def test_the_first_candidate_becomes_champion() -> None:
    decision = decide(0.42, None, margin=0.01)
    assert decision.promote
    assert "first champion" in decision.reason


def test_better_by_more_than_the_margin_is_promoted() -> None:
    assert decide(0.92, 0.90, margin=0.01).promote


@pytest.mark.parametrize(
    ("candidate", "champion"),
    [(0.905, 0.90), (0.91, 0.91), (0.85, 0.90)],
    ids=["better-within-margin", "equal", "worse"],
)
def test_not_better_by_the_margin_keeps_the_champion(candidate: float, champion: float) -> None:
    decision = decide(candidate, champion, margin=0.01)
    assert not decision.promote
    assert f"{champion:.4f}" in decision.reason
    assert "champion stays" in decision.reason


def test_a_zero_margin_still_needs_strictly_better() -> None:
    assert not decide(0.9, 0.9, margin=0.0).promote
    assert decide(0.9001, 0.9, margin=0.0).promote
