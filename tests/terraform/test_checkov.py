"""checkov finds nothing to fix in terraform/, and every check it was told to skip says why, in the resource."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.terraform.config import REPO, TERRAFORM, tf_files

CHECKOV = REPO / "tools" / "iac" / ".venv" / "bin" / "checkov"
INSTALL = "run scripts/install-iac-tools (make setup runs it): it syncs checkov's locked environment in tools/iac/.venv"
SKIP = re.compile(r"#\s*checkov:skip=(?P<rest>.*)")
ANNOTATED = re.compile(r"(?P<id>CKV2?_[A-Z0-9]+_\d+):(?P<reason>\S.{15,})")  # an id and a reason of a few words


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(REPO)} is missing: {INSTALL}")
    # --skip-download: no call to Prisma Cloud (none is reachable here, and none is needed for the built-in checks).
    command = [CHECKOV, "-d", TERRAFORM, "--framework", "terraform", "--compact", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert result.returncode in (0, 1), f"checkov failed to run ({result.returncode}):\n{result.stderr[-3000:]}"
    output = json.loads(result.stdout)
    reports = output if isinstance(output, list) else [output]
    (terraform,) = [r for r in reports if r["check_type"] == "terraform"]
    return terraform


def test_checkov_finds_no_failed_check(report: dict[str, Any]) -> None:
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    hint = "fix them, or skip one in its resource with #checkov:skip=<id>:<why it does not apply>"
    assert not failed, f"checkov failed checks ({hint}):\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 300, "checkov saw the whole configuration"


def test_every_skipped_check_carries_a_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    unexplained = [
        f"{check['check_id']} {check['resource']}"
        for check in skipped
        if not ANNOTATED.fullmatch(f"{check['check_id']}:{check['check_result'].get('suppress_comment', '')}")
    ]
    assert not unexplained, f"skipped without a reason: {unexplained}"


def test_skips_are_inline_annotations_only() -> None:
    """No skip list on the command line or in a config file: each skip sits in the resource it concerns."""
    assert not list(REPO.glob(".checkov.y*ml"))
    assert not list(TERRAFORM.rglob(".checkov.y*ml"))
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if match := SKIP.search(line):
                assert ANNOTATED.fullmatch(match["rest"].strip()), f"{path.relative_to(REPO)}:{number}: {line.strip()}"
