"""Per-pixel median composite of every valid harmonised observation, both sensors, at 10 m.

Landsat enters at 30 m and is replicated 3×3 onto the 10 m grid (the grids nest exactly, so
nearest-neighbour is replication, not interpolation). Sentinel-2 is already bandpass-adjusted
to OLI by ingest, so the two sensors' reflectances are comparable. The median resists the
haze and cloud edges that masks miss better than the mean does.
"""

from __future__ import annotations

import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject

from fusion.bands import CANONICAL_BANDS

# Spatial chunk of the median: the whole time column must sit in one chunk, so keep the
# spatial block small (256² × 200 dates × 4 B ≈ 50 MB per band).
_MEDIAN_BLOCK = 256


def harmonized_composite(
    landsat: xr.Dataset | None,
    sentinel2: xr.Dataset | None,
    *,
    geobox: GeoBox,
) -> xr.Dataset:
    """Lazy median composite on ``geobox`` with per-sensor valid-observation counts.

    Returns ``reflectance`` (band, y, x) float32 and ``valid_landsat`` / ``valid_sentinel2``
    (y, x) uint16: how many clear observations each pixel had.
    """
    series: list[xr.DataArray] = []
    counts: dict[str, xr.DataArray] = {}
    for name, ds in (("landsat", landsat), ("sentinel2", sentinel2)):
        if ds is None or ds.sizes.get("time", 0) == 0:
            continue
        refl = ds["reflectance"]
        if refl.odc.geobox != geobox:
            refl = xr_reproject(refl, geobox, resampling="nearest", dst_nodata=float("nan"))
        refl = refl.drop_vars([c for c in refl.coords if c not in refl.dims and c != "spatial_ref"])
        series.append(refl)
        counts[f"valid_{name}"] = refl.notnull().all("band").sum("time").astype("uint16")
    if not series:
        raise ValueError("harmonized_composite needs at least one non-empty sensor dataset")
    stack = xr.concat(series, dim="time", coords="minimal", compat="override", join="override")
    if stack.chunks is not None:
        stack = stack.chunk({"time": -1, "band": 1, "y": _MEDIAN_BLOCK, "x": _MEDIAN_BLOCK})
    median = stack.median("time", skipna=True).astype("float32")
    median = median.transpose("band", "y", "x").sel(band=list(CANONICAL_BANDS))
    out = xr.Dataset({"reflectance": median, **counts})
    for name in ("valid_landsat", "valid_sentinel2"):
        if name not in out:
            out[name] = xr.zeros_like(median.isel(band=0, drop=True), dtype="uint16")
    return out
