"""Shared helpers of the pipeline tests: AOIs, and comparisons of output folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from shapely.geometry import box, mapping

from fusion.change.store import load_state
from fusion.pipeline.incremental import STATE_DIR

ALERT_LAYERS = ("alert_date", "confirmed_date", "confidence", "magnitude", "valid_count")


def write_aoi(path: Path, *boxes: tuple[float, float, float, float]) -> Path:
    geometry = (
        mapping(box(*boxes[0]))
        if len(boxes) == 1
        else {
            "type": "MultiPolygon",
            "coordinates": [mapping(box(*b))["coordinates"] for b in boxes],
        }
    )
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


def alert_arrays(out: Path) -> dict[str, np.ndarray]:
    """Every alert layer of every tile, by relative path."""
    arrays = {}
    for name in ALERT_LAYERS:
        for path in sorted(out.glob(f"*/{name}.tif")):
            with rasterio.open(path) as src:
                arrays[str(path.relative_to(out))] = src.read()
    assert arrays, f"no alert layers in {out}"
    return arrays


def assert_same_alerts(a: Path, b: Path) -> None:
    left, right = alert_arrays(a), alert_arrays(b)
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def states(out: Path) -> dict[str, xr.Dataset]:
    return {p.name: load_state(p) for p in sorted((out / STATE_DIR).glob("*.zarr.zip"))}


def published(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).parts[0].startswith(".")
    }
