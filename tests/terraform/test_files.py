"""Every .tf file parses, is formatted as hclfmt formats it, and declares what a reader needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.terraform.config import MODULE_NAMES, MODULES, PROD, REPO, TERRAFORM, Directory, parse, tf_files

HCLFMT = REPO / "build" / "bin" / "hclfmt"
INSTALL = "run scripts/install-iac-tools (make setup runs it): it builds hclfmt with `go install` into build/bin"
DIRECTORIES = [MODULES / name for name in MODULE_NAMES] + [PROD]


def test_the_layout_is_six_modules_and_the_prod_composition() -> None:
    assert sorted(path.name for path in MODULES.iterdir() if path.is_dir()) == sorted(MODULE_NAMES)
    assert {path.parent for path in tf_files()} == set(DIRECTORIES)


@pytest.mark.parametrize("path", tf_files(), ids=lambda path: str(path.relative_to(TERRAFORM)))
def test_file_parses(path: Path) -> None:
    assert parse(path), f"{path.relative_to(REPO)} is empty"


def test_files_are_formatted() -> None:
    if not HCLFMT.exists():
        pytest.fail(f"{HCLFMT.relative_to(REPO)} is missing: {INSTALL}")
    changed = []
    for path in tf_files():
        result = subprocess.run([HCLFMT, path], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"hclfmt cannot read {path.relative_to(REPO)}:\n{result.stderr}"
        if result.stdout != path.read_text():
            changed.append(str(path.relative_to(REPO)))
    assert not changed, f"not formatted: {changed}; fix with: {HCLFMT.relative_to(REPO)} -w <file>"


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda path: str(path.relative_to(TERRAFORM)))
def test_providers_are_pinned(directory: Path) -> None:
    terraform = Directory(directory).blocks("terraform")
    assert terraform, f"{directory.relative_to(REPO)} has no terraform block (versions.tf)"
    providers = {
        name: spec
        for block in terraform
        for entry in block.get("required_providers", [])
        for name, spec in entry.items()
    }
    assert providers, f"{directory.relative_to(REPO)} declares no required_providers"
    for name, spec in providers.items():
        assert re.fullmatch(r">= \d+\.\d+, < \d+\.\d+", spec["version"]), f"{name}: pin a major version, not {spec}"
    if directory == PROD:
        assert set(providers) == {"aws", "google"}


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda path: str(path.relative_to(TERRAFORM)))
def test_variables_and_outputs_are_described(directory: Path) -> None:
    config = Directory(directory)
    undescribed = [
        name for name, body in {**config.variables(), **config.outputs()}.items() if not body.get("description")
    ]
    assert not undescribed, f"{directory.relative_to(REPO)}: describe {undescribed}"


SECRET_NAME = re.compile(r"(password|secret|token|credentials?|private_key|api_key)$", re.IGNORECASE)


def test_no_secret_has_a_default_or_reaches_state() -> None:
    """Secrets live in Secrets Manager; no variable carries one, and Terraform never writes a secret's value."""
    for directory in DIRECTORIES:
        config = Directory(directory)
        for name, body in config.variables().items():
            if SECRET_NAME.search(name):
                assert body.get("default") is None, f"{directory.relative_to(REPO)}: variable {name} has a default"
                assert body.get("sensitive") is True, f"{directory.relative_to(REPO)}: variable {name} is not sensitive"
        for kind in ("aws_secretsmanager_secret_version", "random_password", "google_service_account_key"):
            assert not config.resources(kind), f"{directory.relative_to(REPO)}: {kind} would put a secret in state"
    for path in tf_files():
        for line in path.read_text().splitlines():
            assert not re.match(r"\s*(master_)?password\s*=", line), f"{path.relative_to(REPO)}: {line.strip()}"
