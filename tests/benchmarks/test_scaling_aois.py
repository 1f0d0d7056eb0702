"""benchmarks/scaling.py's AOIs: 1, 4 and 16 whole tiles when tiled by cell, one default tile."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from fusion.aoi import aoi_grid, read_aoi

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "scaling.py"
sys.path.insert(0, str(_PATH.parent))  # as when run as a script: its helper modules import
_SPEC = importlib.util.spec_from_file_location("benchmark_scaling", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
scaling = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = scaling
_SPEC.loader.exec_module(scaling)

CELL_M = 1680


@pytest.mark.parametrize("scale", scaling.SCALES)
def test_aoi_is_scale_whole_tiles(scale: int, tmp_path: Path) -> None:
    aoi = read_aoi(scaling._aoi(tmp_path, scale, CELL_M))
    tiles = aoi_grid(aoi, tile_size_m=CELL_M)
    assert len(tiles) == scale
    assert {(t.geobox.height, t.geobox.width) for t in tiles} == {(168, 168)}
    assert len({t.id for t in tiles}) == scale
    (single,) = aoi_grid(aoi, tile_size_m=scaling.SINGLE_TILE_M)  # the single_tile variant
    assert single.geobox.shape == (168 * len(tiles) ** 0.5,) * 2
