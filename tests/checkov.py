"""checkov, run the one way the deployment tests need: on a folder, one framework, its JSON report back.

Skips are never given on the command line or in a config file: each sits in the resource it concerns, with its
reason (`#checkov:skip=<id>:<why>` in Terraform, a `checkov.io/skip<n>: <id>=<why>` annotation in Kubernetes).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sluice.settings import REPO_ROOT

CHECKOV = REPO_ROOT / "tools" / "iac" / ".venv" / "bin" / "checkov"
INSTALL = "run scripts/install-iac-tools (make setup runs it): it syncs checkov's locked environment in tools/iac/.venv"
ANNOTATED = re.compile(r"(?P<id>CKV2?_[A-Z0-9]+_\d+)[:=](?P<reason>\S.{15,})")  # an id and a reason of a few words


def checkov_report(folder: Path, framework: str) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(REPO_ROOT)} is missing: {INSTALL}")
    # --skip-download: no call to Prisma Cloud (none is reachable here, and none is needed for the built-in checks).
    command = [CHECKOV, "-d", folder, "--framework", framework, "--compact", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT)
    assert result.returncode in (0, 1), f"checkov failed to run ({result.returncode}):\n{result.stderr[-3000:]}"
    output = json.loads(result.stdout)
    reports = output if isinstance(output, list) else [output]
    (report,) = [r for r in reports if r["check_type"] == framework]
    return report  # type: ignore[no-any-return]


def failed_checks(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]


def unexplained_skips(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']}"
        for check in report["results"]["skipped_checks"]
        if not ANNOTATED.fullmatch(f"{check['check_id']}:{check['check_result'].get('suppress_comment', '')}")
    ]
