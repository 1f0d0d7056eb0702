"""Digital numbers → float32 reflectance, one scale/offset per item (per time slice).

Imagery stays uint16 until here (DESIGN.md, peer complaint 6); the arithmetic is done in
float32 with float32 constants so nothing is promoted to float64.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def scale_dn(
    dn: np.ndarray, scale: np.ndarray | float, offset: np.ndarray | float, *, nodata: int = 0
) -> np.ndarray:
    """``dn × scale + offset`` as float32, NaN where ``dn == nodata``; numpy (or dask)
    arrays, constants broadcast against ``dn``. The one definition of the scaling."""
    out = dn.astype(np.float32) * np.float32(scale) + np.float32(offset)
    return np.where(dn != nodata, out, np.float32(np.nan)).astype(np.float32)


def dn_to_reflectance(
    dn: xr.DataArray, scale: float, offset: float, *, nodata: int = 0
) -> xr.DataArray:
    """:func:`scale_dn` of a DataArray; lazy for dask input."""
    return xr.apply_ufunc(scale_dn, dn, scale, offset, kwargs={"nodata": nodata}, dask="allowed")
