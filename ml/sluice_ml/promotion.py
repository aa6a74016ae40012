"""Whether a night's best candidate replaces the champion: only if its macro-F1 on the same held-out listings beats
the champion's by the set margin. Pure, so the rule is tested on hand-made numbers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_f1: float, champion_f1: float | None, margin: float) -> Decision:
    """`champion_f1` is None when there is no champion yet: the first candidate becomes it."""
    if champion_f1 is None:
        return Decision(True, f"first champion (macro-F1 {candidate_f1:.4f})")
    needed = champion_f1 + margin
    if candidate_f1 > needed:
        return Decision(
            True, f"macro-F1 {candidate_f1:.4f} beats the champion's {champion_f1:.4f} by more than {margin:g}"
        )
    return Decision(
        False,
        f"macro-F1 {candidate_f1:.4f} does not beat the champion's {champion_f1:.4f} by more than {margin:g} "
        f"(needs > {needed:.4f}); the champion stays",
    )
