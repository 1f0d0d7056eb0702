"""Landsat/Sentinel-2 shift measurement on synthetic pairs with a known sub-pixel shift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ingest_helpers import fourier_shift, smooth_field

from fusion.bands import CANONICAL_BANDS
from fusion.errors import IngestError, MisregistrationWarning
from fusion.ingest.shift import ShiftRecord, block_mean, measure_pair, measure_shifts


def _pair(
    dx_m: float, dy_m: float, *, seed: int = 1, size_10m: int = 384
) -> tuple[np.ndarray, np.ndarray]:
    """Landsat (30 m block means) and Sentinel-2 (10 m) of one scene, S2 moved by (dx east, dy north).

    The scene is cut from a larger periodic field, so neither image is periodic (as in reality).
    """
    field = smooth_field((2 * size_10m, 2 * size_10m), seed=seed, scale_px=8)
    moved = fourier_shift(field, -dy_m / 10, dx_m / 10)  # rows run south
    crop = (slice(0, size_10m), slice(0, size_10m))
    return block_mean(field[crop].astype(np.float32)), moved[crop].astype(np.float32)


def test_block_mean() -> None:
    image = np.arange(36, dtype=np.float32).reshape(6, 6)
    image[0, 0] = np.nan
    out = block_mean(image)
    assert out.dtype == np.float32
    assert np.isnan(out[0, 0]) and out[1, 1] == pytest.approx(image[3:, 3:].mean())
    assert block_mean(image, min_valid=8)[0, 0] == pytest.approx(np.nanmean(image[:3, :3]))
    with pytest.raises(ValueError, match="multiple of 3"):
        block_mean(image[:5])


@pytest.mark.parametrize(("dx", "dy"), [(9.0, 4.0), (-6.0, 12.0), (0.0, 0.0)])
def test_known_shift_is_recovered(dx: float, dy: float) -> None:
    landsat, s2 = _pair(dx, dy)
    s2[120:180, 60:150] = np.nan  # a cloud on Sentinel-2
    landsat[90:100, 5:40] = np.nan  # and one on Landsat
    got_dx, got_dy, error, n_valid = measure_pair(landsat, s2)
    print(
        f"\nshift truth ({dx:+.1f}, {dy:+.1f}) m → measured ({got_dx:+.2f}, {got_dy:+.2f}) m, error {error:.3f}"
    )
    assert got_dx == pytest.approx(dx, abs=1.5)
    assert got_dy == pytest.approx(dy, abs=1.5)
    assert (
        n_valid == np.isfinite(landsat).sum() - np.isnan(block_mean(s2)[np.isfinite(landsat)]).sum()
    )


def test_grid_mismatch_is_an_error() -> None:
    with pytest.raises(IngestError, match="3× the Landsat shape"):
        measure_pair(np.zeros((10, 10), np.float32), np.zeros((20, 30), np.float32))


def _dataset(cubes: list[np.ndarray], days: list[int], ids: list[str], res: float) -> xr.Dataset:
    stack = np.stack([np.repeat(c[None], len(CANONICAL_BANDS), axis=0) for c in cubes])
    ny, nx = stack.shape[-2:]
    refl = xr.DataArray(
        stack,
        dims=("time", "band", "y", "x"),
        coords={
            "time": pd.Timestamp("2024-03-01") + pd.to_timedelta(days, unit="D"),
            "band": list(CANONICAL_BANDS),
            "y": 9_000_000 - res * (np.arange(ny) + 0.5),
            "x": 600_000 + res * (np.arange(nx) + 0.5),
            "item_id": ("time", ids),
        },
    ).chunk({"time": 1, "y": 64, "x": 64})
    return xr.Dataset({"reflectance": refl})


def test_measure_shifts_pairs_records_and_warns() -> None:
    l1, s1 = _pair(9.0, 4.0, seed=2)
    l2, s2 = _pair(15.0, 0.0, seed=3)
    landsat = _dataset([l1, l2, l1], [0, 10, 30], ["LC08_A", "LC09_B", "LC08_LONELY"], 30.0)
    sentinel2 = _dataset([s1, s2], [2, 11], ["S2A_A", "S2B_B"], 10.0)
    with pytest.warns(MisregistrationWarning, match=r"LC09_B / Sentinel-2 S2B_B.*15\.\d m"):
        records = measure_shifts(landsat, sentinel2, max_days=3, threshold_m=10)
    assert [(r.landsat_id, r.s2_id, r.dt_days) for r in records] == [
        ("LC08_A", "S2A_A", 2.0),
        ("LC09_B", "S2B_B", 1.0),
    ]
    assert records[0].dx_m == pytest.approx(9.0, abs=1.5)
    assert records[0].dy_m == pytest.approx(4.0, abs=1.5)
    assert records[1].magnitude_m == pytest.approx(15.0, abs=1.5)
    as_dict = records[0].to_dict()
    json.dumps(as_dict)
    assert set(as_dict) == {
        "landsat_id",
        "s2_id",
        "dt_days",
        "dx_m",
        "dy_m",
        "n_valid",
        "error",
        "magnitude_m",
    }
    assert isinstance(records[0], ShiftRecord)
    # Too few common clear pixels: no record.
    assert measure_shifts(landsat, sentinel2, max_days=3, min_valid=10**6) == []
