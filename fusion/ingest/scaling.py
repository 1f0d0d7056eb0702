"""Digital numbers → float32 reflectance, one scale/offset per item (per time slice).

Imagery stays uint16 until here (DESIGN.md, peer complaint 6); the arithmetic is done in
float32 with float32 constants so nothing is promoted to float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from fusion.ingest.items import ItemBands


def per_time(values: Sequence[float], time: xr.DataArray, *, name: str) -> xr.DataArray:
    """A float32 DataArray along ``time`` holding one constant per time slice."""
    if len(values) != time.size:
        raise ValueError(f"{name}: {len(values)} values for {time.size} time slices")
    return xr.DataArray(np.asarray(values, dtype=np.float32), coords={"time": time}, dims="time")


def dn_to_reflectance(
    dn: xr.DataArray,
    scale: xr.DataArray | float,
    offset: xr.DataArray | float,
    *,
    nodata: int = 0,
) -> xr.DataArray:
    """``dn × scale + offset`` as float32, NaN where ``dn == nodata``. Lazy for dask input."""
    scale32 = scale.astype(np.float32) if isinstance(scale, xr.DataArray) else np.float32(scale)
    offset32 = offset.astype(np.float32) if isinstance(offset, xr.DataArray) else np.float32(offset)
    reflectance = dn.astype(np.float32) * scale32 + offset32
    return reflectance.where(dn != nodata).astype(np.float32)


def scale_items(dn: xr.DataArray, items: Sequence[ItemBands], *, nodata: int = 0) -> xr.DataArray:
    """Scale a (time, …) DN array whose time slices are ``items``, in that order."""
    scale = per_time([ib.scale for ib in items], dn["time"], name="scale")
    offset = per_time([ib.offset for ib in items], dn["time"], name="offset")
    return dn_to_reflectance(dn, scale, offset, nodata=nodata)
