"""Shared fixtures.

Tests that read the real data in ``../shared/data`` must fail in CI when it is missing (CI
always has it beside the clone) and skip elsewhere with a reason that says where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _requirements import require

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FUSION_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real satellite data of ../shared/data (see its README)."""
    require(
        (SHARED_DATA / "README.md").is_file(),
        f"real test data not found at {SHARED_DATA}; put the shared/ folder beside the "
        "repository or set FUSION_SHARED_DATA",
    )
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep demo worlds of one test session in one temporary cache, never in ~/.cache."""
    if "FUSION_CACHE_DIR" not in os.environ:
        cache = tmp_path_factory.getbasetemp() / "fusion-cache"
        monkeypatch.setenv("FUSION_CACHE_DIR", str(cache))
