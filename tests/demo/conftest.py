"""Small demo worlds shared by the demo tests (made once per session, in a temporary cache)."""

from __future__ import annotations

import pytest
from demo_helpers import CLEAR_CONFIG, CLEAR_END, END, SMALL_AOI, SMALL_CONFIG, START

from fusion.demo import DemoCatalog, ensure_demo_catalog


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """A cloudy 1.5 km world over four months."""
    cache = tmp_path_factory.mktemp("demo-small")
    return ensure_demo_catalog(
        SMALL_AOI, start=START, end=END, seed=3, cache_dir=cache, config=SMALL_CONFIG
    )


@pytest.fixture(scope="session")
def clear_catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """A cloud-free 1.5 km world over one month."""
    cache = tmp_path_factory.mktemp("demo-clear")
    return ensure_demo_catalog(
        SMALL_AOI, start=START, end=CLEAR_END, seed=5, cache_dir=cache, config=CLEAR_CONFIG
    )
