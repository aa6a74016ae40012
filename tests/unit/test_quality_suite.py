"""The quality gate's suite: which expectation each YAML test becomes, with which arguments; the gate's summary."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from sluice.marts.quality import CheckOutcome, GateResult, expectation_suite, write_report
from sluice.marts.spec import ModelSpec
from sluice.settings import load_settings

DS = date(2026, 11, 20)


def model(**changes: Any) -> ModelSpec:
    """A model as its YAML would read, with every kind of test."""
    spec: dict[str, Any] = {
        "description": "one row per listing",
        "grain": "one row per listing per day",
        "owner": "marketplace-analytics",
        "columns": [
            {"name": "listing_id", "type": "bigint", "description": "the listing", "tests": ["not_null", "unique"]},
            {"name": "category", "type": "string", "description": "its category",
             "tests": [{"accepted_values": {"values": ["digital", "furniture"]}}]},
            {"name": "price", "type": "bigint", "description": "cents", "tests": [{"accepted_range": {"min": 0}}]},
            {"name": "discount", "type": "double", "description": "share off",
             "tests": [{"accepted_range": {"min": 0, "max": 0.5}}, {"accepted_range": {"max": 1}}]},
            {"name": "seller_id", "type": "bigint", "description": "the seller",
             "tests": [{"relationships": {"to": "dim_users", "field": "user_id"}}]},
            {"name": "event_time", "type": "timestamp", "description": "when"},
            {"name": "dt", "type": "date", "description": "partition date (UTC)"},
        ],
        "tests": [
            {"unique_combination": {"columns": ["listing_id", "dt"]}},
            {"row_count": {"min": 1, "max": 10_000_000}},
            {"freshness": {"column": "event_time", "max_delay_hours": 6}},
        ],
    }  # fmt: skip
    return ModelSpec.model_validate({**spec, **changes})


def test_each_yaml_test_becomes_one_expectation_in_yaml_order() -> None:
    suite = expectation_suite("stg_listings", model(), DS)

    assert suite.name == "stg_listings"
    got = [(e.expectation_type, e.configuration.kwargs, e.meta) for e in suite.expectations]
    relationship = (
        "select b.* from {batch} as b left anti join (select `user_id` as ref_key from dim_users "
        "where dt = date '2026-11-20') as r on b.`seller_id` = r.ref_key where b.`seller_id` is not null"
    )
    newest_allowed = datetime.fromtimestamp(datetime(2026, 11, 20, 18, tzinfo=UTC).timestamp())
    assert got == [
        ("expect_column_values_to_not_be_null", {"column": "listing_id"},
         {"test": "not_null(listing_id)", "kind": "not_null"}),
        ("expect_column_values_to_be_unique", {"column": "listing_id"},
         {"test": "unique(listing_id)", "kind": "unique"}),
        ("expect_column_values_to_be_in_set", {"column": "category", "value_set": ["digital", "furniture"]},
         {"test": "accepted_values(category)", "kind": "accepted_values"}),
        ("expect_column_values_to_be_between", {"column": "price", "min_value": 0},
         {"test": "accepted_range(price >= 0)", "kind": "accepted_range"}),
        ("expect_column_values_to_be_between", {"column": "discount", "min_value": 0, "max_value": 0.5},
         {"test": "accepted_range(0 <= discount <= 0.5)", "kind": "accepted_range"}),
        ("expect_column_values_to_be_between", {"column": "discount", "max_value": 1},
         {"test": "accepted_range(discount <= 1)", "kind": "accepted_range"}),
        ("unexpected_rows_expectation", {"unexpected_rows_query": relationship},
         {"test": "relationships(seller_id -> dim_users.user_id)", "kind": "relationships"}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["listing_id", "dt"]},
         {"test": "unique_combination(listing_id, dt)", "kind": "unique_combination"}),
        ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 10_000_000},
         {"test": "row_count(1..10000000)", "kind": "row_count"}),
        ("expect_column_max_to_be_between", {"column": "event_time", "min_value": newest_allowed},
         {"test": "freshness(event_time within 6h)", "kind": "freshness"}),
    ]  # fmt: skip


def test_bounds_are_inclusive_and_mostly_is_all_rows() -> None:
    between = expectation_suite("m", model(), DS).expectations[3]
    assert (between.strict_min, between.strict_max, between.mostly) == (False, False, 1)


def test_freshness_is_measured_back_from_the_end_of_the_partition_day() -> None:
    spec = model(tests=[{"freshness": {"column": "event_time", "max_delay_hours": 30}}])
    freshness = expectation_suite("m", spec, date(2026, 3, 1)).expectations[-1]
    # End of 2026-03-01 UTC is 2026-03-02T00:00Z; 30 hours earlier is 2026-02-28T18:00Z.
    utc_bound = datetime(2026, 2, 28, 18, tzinfo=UTC)
    assert freshness.min_value == datetime.fromtimestamp(utc_bound.timestamp())
    assert freshness.max_value is None


def test_freshness_of_a_date_column_compares_dates() -> None:
    spec = model(tests=[{"freshness": {"column": "dt", "max_delay_hours": 30}}])
    freshness = expectation_suite("m", spec, date(2026, 3, 1)).expectations[-1]
    assert freshness.min_value == date(2026, 2, 28)


def test_a_row_count_without_max_has_only_a_lower_bound() -> None:
    row_count = expectation_suite("m", model(tests=[{"row_count": {"min": 0}}]), DS).expectations[-1]
    assert row_count.configuration.kwargs == {"min_value": 0}
    assert row_count.meta["test"] == "row_count(>= 0)"


def test_a_model_without_tests_has_an_empty_suite() -> None:
    spec = model(columns=[{"name": "dt", "type": "date", "description": "partition date"}], tests=[])
    assert expectation_suite("m", spec, DS).expectations == []


def gate(*checks: CheckOutcome) -> GateResult:
    return GateResult("stg_listings", DS, all(c.success for c in checks), checks, {}, None)


def test_summary_names_failed_tests_in_yaml_terms() -> None:
    result = gate(
        CheckOutcome("not_null(listing_id)", "expect_column_values_to_not_be_null", False, 3, None),
        CheckOutcome("unique(listing_id)", "expect_column_values_to_be_unique", True, 0, None),
        CheckOutcome("accepted_range(price >= 0)", "expect_column_values_to_be_between", False, 1, "-5"),
        CheckOutcome("row_count(1..100)", "expect_table_row_count_to_be_between", False, None, "0"),
        CheckOutcome("relationships(seller_id -> dim_users.user_id)", "unexpected_rows_expectation", False, None,
                     "error: [TABLE_OR_VIEW_NOT_FOUND] The table or view `dim_users` cannot be found."),
    )  # fmt: skip
    assert result.summary() == (
        "stg_listings dt=2026-11-20: 4 of 5 checks failed: not_null(listing_id) 3 rows; "
        "accepted_range(price >= 0) 1 row (e.g. -5); row_count(1..100) observed 0; "
        "relationships(seller_id -> dim_users.user_id) error: [TABLE_OR_VIEW_NOT_FOUND] "
        "The table or view `dim_users` cannot be found."
    )


def test_summary_of_a_passing_gate() -> None:
    result = gate(CheckOutcome("not_null(listing_id)", "expect_column_values_to_not_be_null", True, 0, None))
    assert result.summary() == "stg_listings dt=2026-11-20: all 1 checks passed"


@pytest.mark.parametrize("run_id", ["", "a/b"])
def test_a_report_needs_a_run_id_that_is_one_path_segment(run_id: str) -> None:
    with pytest.raises(ValueError, match="run_id"):
        write_report(gate(), load_settings(), run_id)
