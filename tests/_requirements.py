"""Optional test resources: skip when missing locally, fail in CI, where they must exist."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True on the CI runner, where every optional resource must be present."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(condition: bool, reason: str) -> None:
    """Skip when a resource is missing locally; fail in CI, where it must exist."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)
