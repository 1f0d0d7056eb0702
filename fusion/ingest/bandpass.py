"""HLS v2.0 bandpass adjustment: Sentinel-2 MSI reflectance → Landsat 8 OLI equivalent.

OLI = slope × MSI + offset per band and platform, coefficients of HLS v2.0 (Claverie et al.
2018, RSE 219:145-161, table 5; HLS v2.0 User Guide, Masek et al. 2021), as listed in
DESIGN.md. Landsat is the reference, so only Sentinel-2 is adjusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import numpy as np
import xarray as xr

from fusion.bands import CANONICAL_BANDS
from fusion.errors import ItemMetadataError

Coefficients = Mapping[str, tuple[float, float]]

HLS_S2A: Final[Coefficients] = MappingProxyType(
    {
        "blue": (0.9778, -0.004),
        "green": (1.0053, -0.0009),
        "red": (0.9765, 0.0009),
        "nir08": (0.9983, -0.0001),
        "swir16": (0.9987, -0.0011),
        "swir22": (1.003, -0.0012),
    }
)
HLS_S2B: Final[Coefficients] = MappingProxyType(
    {
        "blue": (0.9778, -0.004),
        "green": (1.0075, -0.0008),
        "red": (0.9761, 0.001),
        "nir08": (0.9966, 0.0),
        "swir16": (1.000, -0.0003),
        "swir22": (0.9867, 0.0004),
    }
)
# Sentinel-2C (in orbit since 2025) has no coefficients in HLS v2.0's published table. The three
# MSIs are built to one specification and S2A's and S2B's coefficients differ by at most 0.016
# in slope (swir22), so we take their mean: if S2C's true coefficients lie between its two
# siblings' — the expectation for a third copy of the same instrument — the mean halves the
# worst-case error of picking either one. Replace with HLS's own S2C values once published.
HLS_S2C: Final[Coefficients] = MappingProxyType(
    {
        b: (
            round((HLS_S2A[b][0] + HLS_S2B[b][0]) / 2, 5),
            round((HLS_S2A[b][1] + HLS_S2B[b][1]) / 2, 5),
        )
        for b in CANONICAL_BANDS
    }
)
MSI_TO_OLI: Final[Mapping[str, Coefficients]] = MappingProxyType(
    {"sentinel-2a": HLS_S2A, "sentinel-2b": HLS_S2B, "sentinel-2c": HLS_S2C}
)


def coefficients_for(platform: str, *, item_id: str = "?") -> Coefficients:
    """MSI → OLI coefficients of a Sentinel-2 platform (``"sentinel-2a"``, ``"S2B"``, …)."""
    key = _normalise_platform(platform)
    if key not in MSI_TO_OLI:
        raise ItemMetadataError(
            f"item {item_id!r}: no MSI→OLI bandpass coefficients for platform {platform!r} "
            f"(known: {', '.join(MSI_TO_OLI)}); fix the item's platform property or add the "
            "platform's coefficients to fusion.ingest.bandpass.MSI_TO_OLI"
        )
    return MSI_TO_OLI[key]


def adjust_msi_to_oli(
    reflectance: xr.DataArray, platforms: Sequence[str], *, item_ids: Sequence[str] | None = None
) -> xr.DataArray:
    """Apply the per-platform adjustment to a (time, band, …) float32 reflectance array.

    ``platforms[i]`` is the platform of time slice ``i``. Lazy for dask input; NaN stays NaN.
    """
    bands = [str(b) for b in reflectance["band"].values]
    slope, offset = coefficient_arrays(platforms, bands, item_ids=item_ids)
    coords = {"time": reflectance["time"], "band": reflectance["band"]}
    slope_da = xr.DataArray(slope, coords=coords, dims=("time", "band"))
    offset_da = xr.DataArray(offset, coords=coords, dims=("time", "band"))
    return (reflectance * slope_da + offset_da).astype(np.float32)


def coefficient_arrays(
    platforms: Sequence[str], bands: Sequence[str], *, item_ids: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Float32 ``(slope, offset)``, each ``(time, band)``: the adjustment of time slice ``i``
    (platform ``platforms[i]``) in each of ``bands``."""
    ids = list(item_ids) if item_ids is not None else ["?"] * len(platforms)
    slope = np.empty((len(platforms), len(bands)), dtype=np.float32)
    offset = np.empty_like(slope)
    for i, (platform, item_id) in enumerate(zip(platforms, ids, strict=True)):
        coefs = coefficients_for(platform, item_id=item_id)
        slope[i] = [coefs[b][0] for b in bands]
        offset[i] = [coefs[b][1] for b in bands]
    return slope, offset


def _normalise_platform(platform: str) -> str:
    p = platform.strip().lower().replace("_", "-")
    if p in ("s2a", "s2b", "s2c"):
        return f"sentinel-2{p[-1]}"
    return p
