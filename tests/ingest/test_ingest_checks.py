"""Range statistics: one kernel per scene, the same numbers as the xarray reductions."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusion.bands import CANONICAL_BANDS
from fusion.ingest.checks import DARK_THRESHOLD, PHYSICAL_RANGE, range_stats


def _reference(refl: xr.DataArray) -> xr.Dataset:
    """The statistics as plain xarray reductions (the definition)."""
    low, high = PHYSICAL_RANGE
    valid = refl.notnull().all("band")
    n_valid = valid.sum(("y", "x"))
    denom = n_valid.where(n_valid > 0).astype(np.float32)
    below = (refl < low).any("band") & valid
    above = (refl > high).any("band") & valid
    dark = (refl.min("band") < DARK_THRESHOLD) & valid
    return xr.Dataset(
        {
            "n_valid": n_valid.astype(np.int64),
            "below_fraction": (below.sum(("y", "x")) / denom).astype(np.float32),
            "above_fraction": (above.sum(("y", "x")) / denom).astype(np.float32),
            "dark_fraction": (dark.sum(("y", "x")) / denom).astype(np.float32),
        }
    )


@pytest.mark.parametrize("chunks", [None, {"time": 1}, {"time": 2, "y": 3, "x": 4}])
def test_range_stats_match_the_reductions(chunks: dict[str, int] | None) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(-0.1, 1.3, (4, len(CANONICAL_BANDS), 7, 9)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    values[3] = np.nan  # a scene without one valid pixel: fractions NaN, count 0
    refl = xr.DataArray(
        values,
        dims=("time", "band", "y", "x"),
        coords={"band": list(CANONICAL_BANDS), "item_id": ("time", list("abcd"))},
    )
    lazy = refl if chunks is None else refl.chunk(chunks)
    stats = range_stats(lazy).compute()
    expected = _reference(refl)
    for name in expected.data_vars:
        assert stats[name].dtype == expected[name].dtype
        np.testing.assert_array_equal(stats[name].values, expected[name].values)
    assert list(stats["item_id"].values) == list("abcd")
    assert stats["n_valid"].values[3] == 0
    np.testing.assert_array_equal(
        stats["out_of_range_fraction"].values,
        (expected["below_fraction"] + expected["above_fraction"]).values,
    )
