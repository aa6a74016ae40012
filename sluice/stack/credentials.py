"""Secrets the local stack makes for itself: generated once into its state directory, readable by the owner only.

Outside the `local` profile nothing is generated: a secret without its setting is an error naming the variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from sluice.settings import ENV_PREFIX, MissingSettingError, Settings


def state_secret(path: Path, make: str = "") -> str:
    """The secret kept in `path`, created on first use (`make`, or a random token)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make or secrets.token_urlsafe(32))
    return path.read_text().strip()


def setting_or_generated(settings: Settings, name: str, path: Path) -> str:
    """The secret setting `name` when given; locally, generated into `path` on first use and kept."""
    value = getattr(settings, name)
    if value is not None:
        return str(value.get_secret_value())
    if settings.profile != "local":
        raise MissingSettingError(f"profile {settings.profile!r} needs {ENV_PREFIX}{name.upper()} (no default)")
    return state_secret(path)


def secret_hint(settings: Settings, name: str, path: Path) -> str:
    """Where a password comes from, so a message can point at it without printing it again."""
    return f"{ENV_PREFIX}{name.upper()}" if getattr(settings, name) is not None else f"in {path}"
