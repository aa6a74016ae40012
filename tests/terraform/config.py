"""terraform/ as data: every .tf file parsed with python-hcl2, one Terraform module (a directory) at a time.

Attribute values come back as HCL writes them: literals as Python values, anything else as its expression in
`${...}` (`days = var.raw_retention_days` -> "${var.raw_retention_days}"); nested blocks as lists of dicts.
Tests follow a value through the expressions by hand: a module's variable, the composition's argument, its default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
PROD = TERRAFORM / "envs" / "prod"
MODULE_NAMES = ("lake_bucket", "msk", "eks", "irsa", "rds", "bigquery")

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

Block = dict[str, Any]


def tf_files() -> list[Path]:
    """Every configuration file, providers' caches (.terraform/) left out."""
    return sorted(path for path in TERRAFORM.rglob("*.tf") if ".terraform" not in path.parts)


@functools.cache
def parse(path: Path) -> dict[str, list[Any]]:
    return hcl2.loads(path.read_text(), serialization_options=_OPTIONS)


@dataclass(frozen=True)
class Directory:
    """One Terraform module: the blocks of all its files."""

    path: Path

    def blocks(self, kind: str) -> list[Any]:
        return [block for file in sorted(self.path.glob("*.tf")) for block in parse(file).get(kind, [])]

    def _labelled(self, kind: str, type_: str) -> dict[str, Block]:
        return {name: body for block in self.blocks(kind) for name, body in block.get(type_, {}).items()}

    def resources(self, type_: str) -> dict[str, Block]:
        return self._labelled("resource", type_)

    def resource(self, type_: str, name: str) -> Block:
        found = self.resources(type_)
        assert name in found, f"{self.path.relative_to(REPO)} has no resource {type_}.{name} (it has {sorted(found)})"
        return found[name]

    def data(self, type_: str, name: str) -> Block:
        found = self._labelled("data", type_)
        assert name in found, f"{self.path.relative_to(REPO)} has no data {type_}.{name} (it has {sorted(found)})"
        return found[name]

    def variables(self) -> dict[str, Block]:
        return {name: body for block in self.blocks("variable") for name, body in block.items()}

    def variable(self, name: str) -> Block:
        return self.variables()[name]

    def outputs(self) -> dict[str, Block]:
        return {name: body for block in self.blocks("output") for name, body in block.items()}

    def module(self, name: str) -> Block:
        return {name: body for block in self.blocks("module") for name, body in block.items()}[name]

    def locals(self) -> Block:
        return {name: value for block in self.blocks("locals") for name, value in block.items()}


def module(name: str) -> Directory:
    return Directory(MODULES / name)


def prod() -> Directory:
    return Directory(PROD)


def ref(expression: str) -> str:
    """The reference an attribute holds: "${var.x}" -> "var.x"."""
    assert isinstance(expression, str), expression
    assert expression.startswith("${"), expression
    assert expression.endswith("}"), expression
    return expression[2:-1]


def statements(document: Block) -> list[Block]:
    """The statements of an aws_iam_policy_document, `effect` filled in (IAM's default is Allow)."""
    return [{"effect": "Allow", **statement} for statement in document.get("statement", [])]
