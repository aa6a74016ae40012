"""checkov finds nothing to fix in the chart's rendered objects, for every ci values file, and every check it was
told to skip says why, in an annotation of the object it concerns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checkov import checkov_report, failed_checks, unexplained_skips
from tests.helm.conftest import CI_VALUES, render_ci


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("rendered")
    for values_file in CI_VALUES:
        (folder / values_file).write_text(yaml.safe_dump_all(render_ci(values_file)))
    return checkov_report(folder, "kubernetes")


def test_checkov_finds_no_failed_check_in_any_values_file(report: dict[str, Any]) -> None:
    hint = "fix them, or skip one with a `checkov.io/skip<n>: <id>=<why it does not apply>` annotation on the object"
    assert not (failed := failed_checks(report)), f"checkov failed checks ({hint}):\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 500, "checkov saw every rendered object"


def test_every_skipped_check_carries_a_reason(report: dict[str, Any]) -> None:
    assert not (unexplained := unexplained_skips(report)), f"skipped without a reason: {unexplained}"
    skipped = {check["check_id"] for check in report["results"]["skipped_checks"]}
    assert skipped <= {"CKV_K8S_35", "CKV_K8S_43"}, f"new kinds of skip, each needs a reason here too: {skipped}"
