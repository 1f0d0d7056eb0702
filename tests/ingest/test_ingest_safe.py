"""The real baseline-04.00 Sentinel-2 L2A product: offset from its metadata, reflectance in range,
and the same pixels with the offset wrongly left out caught by the range check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from fusion.errors import PhysicalRangeError
from fusion.ingest.checks import check_physical_range
from fusion.ingest.masks import scl_invalid
from fusion.ingest.safe import (
    SafeRadiometry,
    read_safe_band,
    read_safe_radiometry,
    safe_reflectance,
)

pytestmark = pytest.mark.shared_data

BANDS = ("B04", "B8A", "B12")


@pytest.fixture(scope="module")
def safe(shared_data: Path) -> Path:
    (product,) = (shared_data / "s2-l2a-baseline-04.00-ireland").glob("*.SAFE")
    return product


@pytest.fixture(scope="module")
def clear_reflectance(safe: Path) -> tuple[SafeRadiometry, xr.DataArray]:
    """Reflectance of the clear (SCL 4, 5, 6) pixels, with the product's own offsets."""
    radiometry = read_safe_radiometry(safe)
    refl = safe_reflectance(safe, BANDS, resolution=60)
    clear = ~scl_invalid(read_safe_band(safe, "SCL", resolution=60))
    return radiometry, refl.where(clear).compute()


def test_radiometry_from_product_metadata(safe: Path) -> None:
    radiometry = read_safe_radiometry(safe)
    assert radiometry.baseline == (4, 0)
    assert radiometry.quantification == 10000
    assert set(radiometry.boa_add_offset) >= {"B02", "B04", "B8A", "B11", "B12"}
    assert all(v == -1000 for v in radiometry.boa_add_offset.values())
    assert radiometry.offset("B04") == pytest.approx(-0.1)
    # The item-level rule (baseline ≥ 04.00 → −0.1) agrees with the product's own metadata.
    assert radiometry.agrees_with_baseline_rule()
    assert not replace(radiometry, baseline=(3, 1)).agrees_with_baseline_rule()


def test_reflectance_is_lazy_float32(safe: Path) -> None:
    refl = safe_reflectance(safe, BANDS, resolution=60)
    assert refl.dtype == np.float32
    assert refl.chunks is not None


def test_reflectance_in_physical_range(
    clear_reflectance: tuple[SafeRadiometry, xr.DataArray],
) -> None:
    _, refl = clear_reflectance
    values = refl.values.reshape(len(BANDS), -1)
    valid = np.isfinite(values).all(axis=0)
    pixels = values[:, valid]
    inside = ((pixels >= -0.05) & (pixels <= 1.2)).all(axis=0).mean()
    print(
        f"\nIreland 04.00 product: {valid.sum()} clear pixels, {100 * inside:.4f} % within −0.05…1.2"
    )
    assert valid.sum() > 100_000
    assert inside > 0.999
    stats = check_physical_range(refl.expand_dims(time=1))
    assert float(stats["dark_fraction"][0]) > 0.5  # red of vegetation, water in SWIR


def test_missing_offset_is_biased_and_caught(
    safe: Path, clear_reflectance: tuple[SafeRadiometry, xr.DataArray]
) -> None:
    radiometry, good = clear_reflectance
    # Pretend the catalogue said baseline 03.xx: offset 0 applied to 04.00 DNs.
    wrong = replace(radiometry, boa_add_offset={b: 0 for b in radiometry.boa_add_offset})
    clear = ~scl_invalid(read_safe_band(safe, "SCL", resolution=60))
    bad = safe_reflectance(safe, BANDS, resolution=60, radiometry=wrong).where(clear).compute()
    bias = float((bad - good).mean())
    assert bias == pytest.approx(0.1, abs=1e-4)
    # Clear water in SWIR is ~0.005 with the right offset, never below 0.1 without it.
    water = (read_safe_band(safe, "SCL", resolution=60) == 6).compute()
    good_water = float(good.sel(band="B12").where(water).median())
    bad_water = float(bad.sel(band="B12").where(water).median())
    print(
        f"\nIreland B12 water median: {good_water:.4f} (product offset) vs {bad_water:.4f} (offset 0)"
    )
    assert good_water < 0.03 < 0.1 <= bad_water
    with pytest.raises(PhysicalRangeError, match=r"item ireland-offset-0: .*BOA offset"):
        check_physical_range(
            bad.expand_dims(time=1).assign_coords(item_id=("time", ["ireland-offset-0"]))
        )


def test_offset_applied_twice_is_out_of_range(
    clear_reflectance: tuple[SafeRadiometry, xr.DataArray],
) -> None:
    _, good = clear_reflectance
    twice = (good - 0.1).expand_dims(time=1).assign_coords(item_id=("time", ["ireland-twice"]))
    with pytest.raises(PhysicalRangeError, match=r"item ireland-twice: .*% below"):
        check_physical_range(twice)
