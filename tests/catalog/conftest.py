"""Fixtures of the catalogue tests: a real STAC API (session scoped) and real STAC items."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _requirements import in_ci
from stac_testserver import ServerUnavailableError, StacTestServer, running_server

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def stac_items(shared_data: Path) -> Path:
    """The folder of real STAC items in ../shared/data."""
    return shared_data / "stac-items"


@pytest.fixture(scope="session")
def stac_server(stac_items: Path) -> Iterator[StacTestServer]:
    """stac-fastapi-pgstac on a throw-away PostgreSQL + PostGIS, on 127.0.0.1.

    Skips when PostgreSQL/PostGIS are missing; fails instead when $CI is set (CI installs
    postgresql-15 and postgresql-15-postgis-3, see .ci/run).
    """
    t0 = time.perf_counter()
    try:
        with running_server(stac_items) as server:
            log.info("STAC test server up in %.1f s at %s", time.perf_counter() - t0, server.url)
            yield server
    except ServerUnavailableError as err:
        if in_ci():
            pytest.fail(f"STAC test server cannot start: {err} (CI must provide it)")
        pytest.skip(f"STAC test server cannot start: {err}")


@pytest.fixture
def api(stac_server: StacTestServer) -> Iterator[StacTestServer]:
    """The server with no fault queued, and its request log cleared."""
    stac_server.faults.reset()
    yield stac_server
    stac_server.faults.reset()
