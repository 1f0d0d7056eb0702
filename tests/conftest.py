"""Shared fixtures.

Tests that read the real data in ``../shared/data`` must fail in CI when it is missing (CI
always has it beside the clone) and skip elsewhere with a reason that says where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _requirements import require

# Runs compute on dask's threaded scheduler: outputs are bitwise the same on every scheduler
# (tests/pipeline/test_distributed.py, which also runs the default in-process cluster), and the
# distributed scheduler's time per task would lengthen the suite by minutes.
os.environ.setdefault("FUSION_SCHEDULER", "threads")

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


@pytest.fixture(scope="session")
def sentinel2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one small demo run (Sentinel-2 series, no network inference, 18
    months, the first six the history), shared by the tests that only read its outputs."""
    import datetime as dt
    import json

    from shapely.geometry import box, mapping

    from fusion.pipeline import RunConfig, run

    folder = tmp_path_factory.mktemp("sentinel2-run")
    aoi = folder / "aoi.geojson"
    geometry = mapping(box(24.450, 0.785, 24.465, 0.800))
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    with pytest.MonkeyPatch.context() as patch:
        if "FUSION_CACHE_DIR" not in os.environ:
            patch.setenv("FUSION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fusion-cache"))
        config = RunConfig(
            aoi=aoi,
            out=folder / "out",
            start=dt.date(2023, 1, 1),
            end=dt.date(2024, 6, 30),
            series="sentinel2",
        )
        return run(config, progress=False).out
