"""Surface, cloud and haze spectra of the demo world, and the HLS v2.0 bandpass adjustment.

All spectra are OLI-like surface reflectance in ``CANONICAL_BANDS`` order
(blue, green, red, nir08, swir16, swir22). Values are typical of Landsat 8 SR over the Congo
Basin: closed moist forest is dark in the visible and SWIR with NIR near 0.3; cleared land
(slash, bare laterite soil) is bright in red and SWIR with lower NIR; turbid rivers are dark in
NIR and SWIR.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from fusion.bands import CANONICAL_BANDS

NBANDS: Final = len(CANONICAL_BANDS)


def _spec(*values: float) -> np.ndarray:
    assert len(values) == NBANDS
    return np.asarray(values, dtype=np.float32)


FOREST: Final = _spec(0.020, 0.045, 0.025, 0.300, 0.140, 0.055)
SWAMP_FOREST: Final = _spec(0.020, 0.042, 0.024, 0.250, 0.115, 0.045)
WATER: Final = _spec(0.045, 0.065, 0.055, 0.030, 0.015, 0.008)
ROAD: Final = _spec(0.085, 0.125, 0.185, 0.260, 0.360, 0.290)
ROOF: Final = _spec(0.150, 0.160, 0.175, 0.210, 0.230, 0.200)
BARE_SOIL: Final = _spec(0.075, 0.115, 0.170, 0.240, 0.330, 0.250)
CROP: Final = _spec(0.030, 0.070, 0.045, 0.360, 0.210, 0.095)
FALLOW: Final = _spec(0.065, 0.100, 0.135, 0.250, 0.300, 0.215)
SLASH: Final = _spec(0.050, 0.080, 0.100, 0.220, 0.270, 0.170)
"""Fresh smallholder clearing: felled, partly burnt vegetation over soil."""

CLOUD: Final = _spec(0.420, 0.420, 0.430, 0.450, 0.330, 0.220)
"""Thick cumulus, surface reflectance units after L2 processing."""
HAZE: Final = _spec(0.040, 0.032, 0.025, 0.015, 0.006, 0.003)
"""Additive path reflectance per unit haze: strongest in the blue, nearly none in the SWIR."""

# HLS v2.0 MSI → OLI bandpass adjustment, OLI = slope * MSI + offset (Claverie et al. 2018,
# HLS v2.0 User Guide, table 7; reproduced in DESIGN.md).
HLS_SLOPE: Final[dict[str, np.ndarray]] = {
    "sentinel-2a": _spec(0.9778, 1.0053, 0.9765, 0.9983, 0.9987, 1.003),
    "sentinel-2b": _spec(0.9778, 1.0075, 0.9761, 0.9966, 1.000, 0.9867),
}
HLS_OFFSET: Final[dict[str, np.ndarray]] = {
    "sentinel-2a": _spec(-0.004, -0.0009, 0.0009, -0.0001, -0.0011, -0.0012),
    "sentinel-2b": _spec(-0.004, -0.0008, 0.001, 0.000, -0.0003, 0.0004),
}


def oli_to_msi(oli: np.ndarray, platform: str) -> np.ndarray:
    """Inverse HLS adjustment of a ``(band, ...)`` OLI-like array: what MSI would measure."""
    shape = (NBANDS,) + (1,) * (oli.ndim - 1)
    slope = HLS_SLOPE[platform].reshape(shape)
    offset = HLS_OFFSET[platform].reshape(shape)
    return ((oli - offset) / slope).astype(np.float32)


def msi_to_oli(msi: np.ndarray, platform: str) -> np.ndarray:
    """Forward HLS adjustment (what the pipeline applies); inverse of :func:`oli_to_msi`."""
    shape = (NBANDS,) + (1,) * (msi.ndim - 1)
    slope = HLS_SLOPE[platform].reshape(shape)
    offset = HLS_OFFSET[platform].reshape(shape)
    return (msi * slope + offset).astype(np.float32)


def b08_from_msi(msi: np.ndarray) -> np.ndarray:
    """Broad NIR (B08, 842 nm) from the MSI stack: HLS has no B08 adjustment; over vegetation
    B08 reads a few per cent below B8A because its wide band reaches into the red edge."""
    nir08, red = msi[CANONICAL_BANDS.index("nir08")], msi[CANONICAL_BANDS.index("red")]
    return (nir08 - 0.04 * (nir08 - red)).astype(np.float32)
