"""Image formation: what Landsat OLI and Sentinel-2 MSI record of the 10 m scene.

Landsat: PSF blur (Gaussian, 0.5 px at 30 m), sub-pixel misregistration, 3×3 block mean to
30 m, noise, DN = (ρ + 0.2) / 2.75e-5, QA_PIXEL with real Collection 2 bit codes.
Sentinel-2: OLI-like truth through the inverse HLS v2.0 adjustment, MTF blur, misregistration,
2×2 block mean for the 20 m bands, noise, DN = ρ·10000 + 1000 (BOA_ADD_OFFSET of baselines
≥ 04.00), SCL classes. Masks come from the sensor's own (shifted, aggregated) view of the sky.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import ndimage

from fusion.bands import CANONICAL_BANDS
from fusion.demo import spectra
from fusion.demo.clouds import Atmosphere

# QA_PIXEL codes of Landsat Collection 2 (bits: 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud,
# 4 shadow, 6 clear, 7 water, 8-9 cloud conf., 10-11 shadow conf., 12-13 snow conf.,
# 14-15 cirrus conf.); each value occurs in real scenes (USGS LSDS-1619, table 6-3).
QA_FILL: Final = 1
QA_CLEAR: Final = 21824  # clear land, all confidences low
QA_WATER: Final = 21952  # clear water
QA_HAZE: Final = 22080  # clear, medium cloud confidence (thin haze: not masked)
QA_HAZE_WATER: Final = 22208
QA_DILATED: Final = 21762  # dilated cloud
QA_CLOUD: Final = 22280  # high-confidence cloud
QA_CIRRUS: Final = 55052  # cloud with high-confidence cirrus
QA_SHADOW: Final = 23888  # high-confidence cloud shadow
LANDSAT_SCALE: Final = 2.75e-5
LANDSAT_OFFSET: Final = -0.2
S2_BOA_ADD_OFFSET: Final = 1000  # DN added to reflectance × 10000 from baseline 04.00 on

# Sentinel-2 scene classification (Sen2Cor SCL).
SCL_SHADOW, SCL_VEGETATION, SCL_BARE, SCL_WATER = 3, 4, 5, 6
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 8, 9, 10

S2_BANDS_10M: Final = ("B02", "B03", "B04", "B08")
S2_BANDS_20M: Final = ("B8A", "B11", "B12")


@dataclass(frozen=True)
class LandsatScene:
    bands: dict[str, np.ndarray]
    """Canonical band name → uint16 DN at 30 m."""
    qa_pixel: np.ndarray
    cloud_cover: float
    """Percent of pixels with the cloud bit set."""


@dataclass(frozen=True)
class Sentinel2Scene:
    bands: dict[str, np.ndarray]
    """MSI band name (B02 … B12) → uint16 DN at 10 or 20 m."""
    scl: np.ndarray
    cloud_cover: float
    """Percent of SCL pixels in classes 8, 9, 10."""
    class_percent: dict[int, float]


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor × factor`` blocks of the last two axes (sizes must divide)."""
    *lead, ny, nx = array.shape
    blocks = array.reshape(*lead, ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


def _shifted(stack: np.ndarray, shift_m: tuple[float, float], sigma_px: float) -> np.ndarray:
    """Blur each ``(y, x)`` plane of a stack and move its content by (east, north) metres.

    Bilinear sub-pixel shift with edge values repeated (the world's margin absorbs the edge).
    """
    planes = stack.astype(np.float32, copy=True)
    if sigma_px > 0:
        for plane in planes:
            ndimage.gaussian_filter(plane, sigma_px, mode="nearest", output=plane)
    dy, dx = -shift_m[1] / 10.0, shift_m[0] / 10.0  # rows grow southward
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    pad = max(abs(iy), abs(ix)) + 2
    padded = np.pad(planes, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    ny, nx = planes.shape[1:]

    def window(oy: int, ox: int) -> np.ndarray:
        # out[y, x] = in[y - oy, x - ox]
        return padded[:, pad - oy : pad - oy + ny, pad - ox : pad - ox + nx]

    top = window(iy, ix) * (1 - fx) + window(iy, ix + 1) * fx
    bottom = window(iy + 1, ix) * (1 - fx) + window(iy + 1, ix + 1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _masks(atm: Atmosphere, shift_m: tuple[float, float], factor: int) -> dict[str, np.ndarray]:
    """The sky as a sensor of ``factor`` × 10 m pixels sees it (shifted with the content)."""
    planes = np.stack([atm.cloud, atm.opacity, atm.shadow_flag, atm.haze - atm.haze.min()]).astype(
        np.float32
    )
    cloud, opacity, shadow, haze = block_mean(_shifted(planes, shift_m, 0.0), factor)
    cloud_flag = cloud >= 0.5
    # On cirrus dates the thin part of the flagged cloud is labelled cirrus.
    thin = cloud_flag & (opacity < 0.5) if atm.cirrus else np.zeros_like(cloud_flag)
    return {
        "cloud": cloud_flag,
        "thin": thin,
        "opaque": opacity >= 0.65,
        "shadow": (shadow >= 0.5) & ~cloud_flag,
        "haze": (haze >= 0.25) & ~cloud_flag,
    }


def render_landsat(
    scene: np.ndarray,
    atm: Atmosphere,
    *,
    shift_m: tuple[float, float],
    rng: np.random.Generator,
    noise: float,
    psf_sigma_px: float,
) -> LandsatScene:
    """Landsat C2 L2 of the ``(band, y, x)`` 10 m scene (world size a multiple of 3)."""
    seen = block_mean(_shifted(scene, shift_m, psf_sigma_px * 3.0), 3)
    seen += rng.normal(0.0, noise, seen.shape).astype(np.float32)
    dn = np.clip(np.round((seen - LANDSAT_OFFSET) / LANDSAT_SCALE), 1, 65535).astype(np.uint16)
    m = _masks(atm, shift_m, 3)
    nir, swir = seen[CANONICAL_BANDS.index("nir08")], seen[CANONICAL_BANDS.index("swir16")]
    water = (nir < 0.06) & (swir < 0.04)
    # CFMask dilates clouds by a few pixels; two (60 m) keep some clear land in the tropics.
    dilated = ndimage.binary_dilation(m["cloud"], np.ones((3, 3), bool), iterations=2) & ~m["cloud"]
    qa = np.full(m["cloud"].shape, QA_CLEAR, dtype=np.uint16)
    qa[water] = QA_WATER
    qa[m["haze"]] = QA_HAZE
    qa[m["haze"] & water] = QA_HAZE_WATER
    qa[m["shadow"]] = QA_SHADOW
    qa[dilated] = QA_DILATED
    qa[m["cloud"]] = QA_CLOUD
    qa[m["thin"]] = QA_CIRRUS
    bands = {name: dn[i] for i, name in enumerate(CANONICAL_BANDS)}
    return LandsatScene(bands, qa, round(100.0 * float(m["cloud"].mean()), 2))


def render_sentinel2(
    scene: np.ndarray,
    atm: Atmosphere,
    *,
    platform: str,
    shift_m: tuple[float, float],
    rng: np.random.Generator,
    noise: float,
    mtf_sigma_px: float,
) -> Sentinel2Scene:
    """Sentinel-2 L2A of the ``(band, y, x)`` 10 m OLI-like scene (world size even)."""
    msi = spectra.oli_to_msi(scene, platform)
    index = {name: CANONICAL_BANDS.index(name) for name in CANONICAL_BANDS}
    ten = np.stack(
        [msi[index["blue"]], msi[index["green"]], msi[index["red"]], spectra.b08_from_msi(msi)]
    )
    ten = _shifted(ten, shift_m, mtf_sigma_px)
    ten += rng.normal(0.0, noise, ten.shape).astype(np.float32)
    twenty = msi[[index["nir08"], index["swir16"], index["swir22"]]]
    twenty = block_mean(_shifted(twenty, shift_m, 2 * mtf_sigma_px), 2)
    twenty += rng.normal(0.0, noise, twenty.shape).astype(np.float32)
    bands = {name: _s2_dn(ten[i]) for i, name in enumerate(S2_BANDS_10M)}
    bands |= {name: _s2_dn(twenty[i]) for i, name in enumerate(S2_BANDS_20M)}

    m = _masks(atm, shift_m, 2)
    red20, nir20, swir20 = block_mean(ten[2], 2), twenty[0], twenty[1]
    ndvi = (nir20 - red20) / np.maximum(nir20 + red20, 1e-3)
    scl = np.where(ndvi >= 0.45, SCL_VEGETATION, SCL_BARE).astype(np.uint8)
    scl[(nir20 < 0.06) & (swir20 < 0.04)] = SCL_WATER
    scl[m["shadow"]] = SCL_SHADOW
    scl[m["cloud"]] = SCL_CLOUD_MEDIUM
    scl[m["cloud"] & m["opaque"]] = SCL_CLOUD_HIGH
    scl[m["thin"]] = SCL_CIRRUS
    classes, counts = np.unique(scl, return_counts=True)
    percent = {int(c): round(100.0 * n / scl.size, 6) for c, n in zip(classes, counts, strict=True)}
    cloud = sum(percent.get(c, 0.0) for c in (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS))
    return Sentinel2Scene(bands, scl, round(cloud, 4), percent)


def _s2_dn(reflectance: np.ndarray) -> np.ndarray:
    dn = np.round(reflectance * 10000.0 + S2_BOA_ADD_OFFSET)
    return np.clip(dn, 1, 65535).astype(np.uint16)
