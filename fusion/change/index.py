"""Vegetation indices and their uncertainty from canonical-band reflectance.

All functions are lazy (plain xarray arithmetic): numpy in → numpy out, dask in → dask out.
Reflectance is a DataArray with a ``band`` dimension whose coordinate holds canonical band
names (:data:`fusion.bands.CANONICAL_BANDS`); every other dimension passes through.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import xarray as xr

from fusion.bands import Sensor
from fusion.errors import MonitorInputError

# Per-band 1-sigma surface-reflectance noise of a single clear observation, used when an
# observation carries no per-pixel sigma (harmonised Sentinel-2; Landsat that was not fused).
# Assumed values of the order of the surface-reflectance uncertainty that atmospheric-correction
# intercomparisons report for Sen2Cor / LaSRC over vegetation (ACIX, Doxani et al. 2018,
# Remote Sens. 10:352): 0.004–0.006 reflectance. Larger in the NIR, where forest reflectance
# and so its absolute error are largest. They set how much one observation is trusted against
# the history spread; they are not a calibration.
# One figure serves both sensors: the intercomparison does not separate them at this precision.
_SR_NOISE: Mapping[str, float] = MappingProxyType(
    {"blue": 0.005, "green": 0.004, "red": 0.004, "nir08": 0.006, "swir16": 0.005, "swir22": 0.004}
)
SENSOR_NOISE: Mapping[Sensor, Mapping[str, float]] = MappingProxyType(
    {"sentinel2": _SR_NOISE, "landsat": _SR_NOISE}
)


def _band(refl: xr.DataArray, name: str) -> xr.DataArray:
    if "band" not in refl.dims:
        raise MonitorInputError(
            f"reflectance has dims {refl.dims} without 'band': pass the ingest/fuse output "
            "with dims (..., band, y, x)"
        )
    names = [str(b) for b in refl["band"].values]
    if name not in names:
        raise MonitorInputError(
            f"reflectance lacks band {name!r} (has {names}): pass canonical bands "
            "(fusion.bands.CANONICAL_BANDS)"
        )
    return refl.sel(band=name, drop=True).astype(np.float32)


def normalized_difference(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """``(a − b) / (a + b)`` in float32; NaN where either is NaN or the sum is not positive."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    total = a + b
    # A non-positive sum only comes from dark water or bad atmospheric correction: the ratio
    # there is meaningless (and ±inf at zero), so it is a gap, not a value.
    return ((a - b) / total.where(total > 0)).astype(np.float32)


def nbr(reflectance: xr.DataArray) -> xr.DataArray:
    """Normalised burn ratio ``(nir08 − swir22) / (nir08 + swir22)``, float32, NaN passthrough."""
    out = normalized_difference(_band(reflectance, "nir08"), _band(reflectance, "swir22"))
    return out.rename("nbr")


def ndvi(reflectance: xr.DataArray) -> xr.DataArray:
    """Normalised difference vegetation index ``(nir08 − red) / (nir08 + red)``, float32."""
    out = normalized_difference(_band(reflectance, "nir08"), _band(reflectance, "red"))
    return out.rename("ndvi")


def normalized_difference_sigma(
    a: xr.DataArray, b: xr.DataArray, sigma_a: xr.DataArray | float, sigma_b: xr.DataArray | float
) -> xr.DataArray:
    """First-order (delta-method) sigma of ``(a − b) / (a + b)`` for independent band errors.

    ∂/∂a = 2b/(a+b)², ∂/∂b = −2a/(a+b)², so σ = 2·sqrt(b²σa² + a²σb²)/(a+b)². Band errors of
    one observation are partly correlated (shared aerosol error); ignoring that overstates the
    sigma of a ratio slightly, the safe side for an alarm.
    """
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    total = a + b
    total = total.where(total > 0)
    var = (b * sigma_a) ** 2 + (a * sigma_b) ** 2
    return (2 * var**0.5 / total**2).astype(np.float32)


def _sigma_of(
    reflectance: xr.DataArray, sigma: xr.DataArray | Mapping[str, float] | Sensor, name: str
) -> xr.DataArray | float:
    if isinstance(sigma, str):
        if sigma not in SENSOR_NOISE:
            raise MonitorInputError(
                f"no noise model for sensor {sigma!r}: use one of {sorted(SENSOR_NOISE)} or pass "
                "per-band sigmas"
            )
        return float(SENSOR_NOISE[sigma][name])
    if isinstance(sigma, xr.DataArray):
        return _band(sigma, name)
    if name not in sigma:
        raise MonitorInputError(
            f"sigma mapping lacks band {name!r}: give a sigma for every band used"
        )
    return float(sigma[name])


def nbr_sigma(
    reflectance: xr.DataArray, sigma: xr.DataArray | Mapping[str, float] | Sensor
) -> xr.DataArray:
    """Sigma of :func:`nbr`, propagated from per-band sigma.

    Args:
        reflectance: reflectance with a ``band`` dimension.
        sigma: the fused per-pixel sigma (same layout as ``reflectance``, e.g. ``fuse()``'s
            ``sigma``), a mapping band → constant sigma, or a sensor name for
            :data:`SENSOR_NOISE`.
    """
    nir, swir = _band(reflectance, "nir08"), _band(reflectance, "swir22")
    s_nir, s_swir = (_sigma_of(reflectance, sigma, n) for n in ("nir08", "swir22"))
    return normalized_difference_sigma(nir, swir, s_nir, s_swir).rename("nbr_sigma")


def ndvi_sigma(
    reflectance: xr.DataArray, sigma: xr.DataArray | Mapping[str, float] | Sensor
) -> xr.DataArray:
    """Sigma of :func:`ndvi`, propagated from per-band sigma (see :func:`nbr_sigma`)."""
    nir, red = _band(reflectance, "nir08"), _band(reflectance, "red")
    s_nir, s_red = (_sigma_of(reflectance, sigma, n) for n in ("nir08", "red"))
    return normalized_difference_sigma(nir, red, s_nir, s_red).rename("ndvi_sigma")
