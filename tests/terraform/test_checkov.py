"""checkov finds nothing to fix in terraform/, and every check it was told to skip says why, in the resource."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.checkov import ANNOTATED, checkov_report, failed_checks, unexplained_skips
from tests.terraform.config import REPO, TERRAFORM, tf_files

SKIP = re.compile(r"#\s*checkov:skip=(?P<rest>.*)")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return checkov_report(TERRAFORM, "terraform")


def test_checkov_finds_no_failed_check(report: dict[str, Any]) -> None:
    hint = "fix them, or skip one in its resource with #checkov:skip=<id>:<why it does not apply>"
    assert not (failed := failed_checks(report)), f"checkov failed checks ({hint}):\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 300, "checkov saw the whole configuration"


def test_every_skipped_check_carries_a_reason(report: dict[str, Any]) -> None:
    assert not (unexplained := unexplained_skips(report)), f"skipped without a reason: {unexplained}"


def test_skips_are_inline_annotations_only() -> None:
    """No skip list on the command line or in a config file: each skip sits in the resource it concerns."""
    assert not list(REPO.glob(".checkov.y*ml"))
    assert not list(TERRAFORM.rglob(".checkov.y*ml"))
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if match := SKIP.search(line):
                assert ANNOTATED.fullmatch(match["rest"].strip()), f"{path.relative_to(REPO)}:{number}: {line.strip()}"
