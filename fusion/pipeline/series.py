"""The dense 10 m series of one tile: fused Landsat dates ∪ Sentinel-2 dates, as an index.

Which observations enter is the run's ``series`` choice (the sensor ablation):

- ``fused``: every Landsat date downscaled to 10 m by the fusion network (guided by the
  nearest clear Sentinel-2), with the network's per-pixel sigma, plus every Sentinel-2 date;
- ``landsat``: Landsat alone, each 30 m pixel replicated 3×3 (no network);
- ``sentinel2``: Sentinel-2 alone.

Sentinel-2 and unfused Landsat get the sensor noise model of :mod:`fusion.change.index`.
A fused observation's sigma is the network's, capped at :data:`FUSED_SIGMA_CAP` times the
Landsat noise-model sigma of the same value (see there). Everything is lazy.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject

from fusion.bands import Sensor
from fusion.change.index import nbr, nbr_sigma

Series = Literal["fused", "landsat", "sentinel2"]
SERIES: tuple[Series, ...] = ("fused", "landsat", "sentinel2")
SENSORS_OF: dict[Series, tuple[Sensor, ...]] = {
    "fused": ("landsat", "sentinel2"),
    "landsat": ("landsat",),
    "sentinel2": ("sentinel2",),
}

FUSED_SIGMA_CAP: float = 2.0
"""A fused Landsat observation is scored with ``min(network sigma, FUSED_SIGMA_CAP × Landsat
noise-model sigma)``.

Why: the network's sigma of a 10 m pixel is mostly *where inside its 30 m pixel* a change lies.
It is largest exactly when a clearing is new: the causal guide is the last clear Sentinel-2
look, from before the clearing, and disagrees with Landsat. Scored with that sigma, the first
Landsat looks after a clearing fell below the alarm threshold (a 0.33 NBR drop with a 0.12
sigma scores −2.7), so the fused monitor confirmed some clearings weeks after Landsat alone did
(detection benchmark, seed 7, clearing 14: 58 days against 20). Yet the block mean of the fused
pixels equals the Landsat measurement, whose own noise is the noise model's. The cap keeps the
network's sigma where it is small (a fresh guide that agrees) and where it is moderately large
(clearing edges, whose partial drops must not alarm), and bounds it where it would silence a
measured drop. The value 2 was chosen on the benchmark's tuning seeds (1, 3 and no cap tried).
"""


def dense_index(
    loaded: dict[Sensor, xr.Dataset],
    *,
    geobox: GeoBox,
    series: Series,
    guide_window_days: float = 30.0,
    guide_lookahead_days: float | None = None,
) -> tuple[xr.DataArray, xr.DataArray, xr.Dataset | None]:
    """NBR and its sigma, ``(time, y, x)`` on ``geobox`` sorted by time, and the fused series.

    The third value is the fused Landsat Dataset (``reflectance``, ``sigma`` per date) when
    ``series`` is ``fused``, for the outputs; else None.
    """
    parts: list[tuple[xr.DataArray, xr.DataArray]] = []
    fused: xr.Dataset | None = None
    landsat = loaded.get("landsat")
    sentinel2 = loaded.get("sentinel2")
    if landsat is not None and series in ("fused", "landsat"):
        if series == "fused":
            from fusion.model.series import fuse_series  # torch: only when fusing

            fused = fuse_series(
                landsat["reflectance"],
                sentinel2["reflectance"] if sentinel2 is not None else None,
                window_days=guide_window_days,
                lookahead_days=guide_lookahead_days,
            )
            # Only pixels Landsat observed are observations: elsewhere fuse() gap-fills from
            # the guide, and feeding those to the monitor would count one Sentinel-2
            # acquisition several times (and date changes before they happened).
            observed = fused["observed"]
            refl = _plain(fused["reflectance"].where(observed))
            net_sigma = nbr_sigma(refl, fused["sigma"].where(observed).reset_coords(drop=True))
            cap = FUSED_SIGMA_CAP * nbr_sigma(refl, "landsat")
            # NaN (no value, no sigma) stays NaN: a NaN comparison is False.
            capped = net_sigma.where(~(net_sigma > cap), cap)
            parts.append((nbr(refl).astype(np.float32), capped.astype(np.float32)))
        else:
            refl = xr_reproject(
                landsat["reflectance"], geobox, resampling="nearest", dst_nodata=np.nan
            )
            parts.append(_index(refl, "landsat"))
    if sentinel2 is not None and series in ("fused", "sentinel2"):
        parts.append(_index(sentinel2["reflectance"], "sentinel2"))
    if not parts:
        raise ValueError(f"series {series!r}: no observations of its sensors were loaded")
    # Whole time columns for the monitor, on the spatial chunks the scenes were loaded with
    # (Sentinel-2's; the fused Landsat dates come out on them too when the tile fits in one
    # chunk): a different spatial chunking would split and merge every date's chunk. Each
    # sensor's dates are merged before the two are joined, and before the dates are sorted,
    # so the join and the sort take from one chunk instead of from each date's.
    chunks: dict[str, Any] = {"time": -1}
    if sentinel2 is not None and sentinel2["reflectance"].chunks is not None:
        s2 = sentinel2["reflectance"]
        chunks.update({d: s2.chunksizes[d] for d in ("y", "x")})
    parts = [(i.chunk(chunks), s.chunk(chunks)) for i, s in parts]
    index = xr.concat([p[0] for p in parts], dim="time", join="override", coords="minimal")
    sigma = xr.concat([p[1] for p in parts], dim="time", join="override", coords="minimal")
    index, sigma = index.chunk(chunks), sigma.chunk(chunks)
    order = np.argsort(index["time"].values, kind="stable")
    # The monitor needs strictly increasing times: a Landsat and a Sentinel-2 scene never
    # share an instant, but guard against it (keep the first).
    _, first = np.unique(index["time"].values[order], return_index=True)
    keep = order[np.sort(first)]
    if not np.array_equal(keep, np.arange(index.sizes["time"])):
        index, sigma = index.isel(time=keep), sigma.isel(time=keep)
    return index, sigma, fused


def _index(
    reflectance: xr.DataArray, sigma: xr.DataArray | Sensor
) -> tuple[xr.DataArray, xr.DataArray]:
    refl = _plain(reflectance)
    sig = sigma if isinstance(sigma, str) else sigma.reset_coords(drop=True)
    return nbr(refl).astype(np.float32), nbr_sigma(refl, sig).astype(np.float32)


def _plain(reflectance: xr.DataArray) -> xr.DataArray:
    """``reflectance`` with only its grid and time coordinates (the per-scene ones would clash
    when the sensors' series are joined)."""
    keep = [c for c in reflectance.coords if c in ("time", "y", "x", "spatial_ref")]
    return reflectance.reset_coords(drop=True).assign_coords(
        {c: reflectance[c] for c in keep if c in reflectance.coords}
    )
