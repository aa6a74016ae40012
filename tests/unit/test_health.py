"""Ingestion health: which limits a set of figures crosses, and how each problem is worded."""

from __future__ import annotations

from datetime import UTC, datetime

from sluice.orchestration.health import IngestionHealth, problems
from sluice.settings import load_settings

SETTINGS = load_settings(health_max_lag=1000, health_max_dead_letters_per_hour=10, health_max_marker_delay_hours=3)


def test_figures_within_their_limits_are_no_problem() -> None:
    health = IngestionHealth(lag={"a": 1000, "b": 0}, dead_letters_last_hour=10, overdue_hours={})
    assert problems(health, SETTINGS) == []


def test_each_limit_crossed_is_named_with_where_to_look() -> None:
    hours = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in range(8)]
    health = IngestionHealth(
        lag={"marketplace.chats": 1001, "marketplace.users": 5},
        dead_letters_last_hour=11,
        overdue_hours={"marketplace.listings": hours},
    )
    found = problems(health, SETTINGS)
    assert len(found) == 3
    assert found[0].startswith("consumer lag on marketplace.chats is 1,001 records (limit 1,000)")
    assert "sluice ingest --status" in found[0]
    assert found[1].startswith("11 records went to sluice.deadletter in the last hour (limit 10)")
    assert found[2].startswith("marketplace.listings: 8 hour(s) still not marked complete over 3.0 h")
    assert "2026-11-20 00h, 2026-11-20 01h" in found[2]
    assert found[2].count("h,") == 5  # six hours listed, the rest elided
    assert " …)" in found[2]
