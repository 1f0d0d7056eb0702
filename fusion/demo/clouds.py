"""Tropical clouds, their shadows, and the thin haze that masks miss.

One smooth fractal field per date (synthesised at 40 m, sampled at 10 m) thresholded at the
date's cloud fraction gives the flagged cloud; just below the threshold lies thin haze that
no sensor mask flags but that brightens the visible bands a little — the realistic weakness
the pipeline must survive. Shadows are the cloud field displaced away from the sun by
``height / tan(elevation)``; their faint penumbra is not flagged either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from fusion.demo import spectra
from fusion.demo.config import DemoConfig
from fusion.demo.noise import fractal_noise, rng_for
from fusion.demo.schedule import Sky

COARSE: Final = 4  # field cell = 4 × 10 m
MIN_OPACITY: Final = 0.3  # opacity at a flagged cloud's edge
SHADOW_FLAG: Final = 0.4  # shadow strength above which masks flag it
HAZE_MAX: Final = 0.6  # haze amount (haze-spectrum units) at the edge of a flagged cloud
SHADOW_DEPTH: Final = 0.6  # darkening under an opaque cloud's shadow (diffuse light remains)


@dataclass(frozen=True)
class CloudField:
    """The cloud field of one date, on a padded coarse grid around the world."""

    coarse: np.ndarray
    pad_px: int
    """Padding of the field around the world, in 10 m pixels."""
    cloud_level: float
    haze_level: float


@dataclass(frozen=True)
class Atmosphere:
    """What the sky does to one acquisition, on the world's 10 m grid."""

    opacity: np.ndarray
    """Cloud opacity 0..1; ≥ ``MIN_OPACITY`` inside flagged cloud, 0 elsewhere."""
    haze: np.ndarray
    """Additive haze amount (unflagged), in units of ``spectra.HAZE``."""
    shadow: np.ndarray
    """Shadow strength 0..1 (from the opacity of the cloud that casts it)."""
    cirrus: bool

    @property
    def cloud(self) -> np.ndarray:
        return self.opacity > 0

    @property
    def shadow_flag(self) -> np.ndarray:
        return (self.shadow >= SHADOW_FLAG) & ~self.cloud


def cloud_field(
    sky: Sky, shape: tuple[int, int], *, seed: int, day: int, config: DemoConfig
) -> CloudField:
    """The date's cloud field; thresholds set so the world's cloud share is ``sky.fraction``."""
    # Room for shadows cast from outside the world (sun at least 30° up) and for wind drift.
    reach = config.cloud_height_m[1] / math.tan(math.radians(30.0)) / 10.0
    pad = math.ceil(reach / COARSE) * COARSE + 16 * COARSE
    rows, cols = (shape[0] + 2 * pad) // COARSE + 2, (shape[1] + 2 * pad) // COARSE + 2
    rng = rng_for(seed, "clouds", day)
    # Convective cells of 1–3 km: corner of the spectrum at ~ 2 km.
    coarse = fractal_noise(rng, (rows, cols), corner_px=2000.0 / (10 * COARSE))
    probe = _sample(coarse, pad, shape, 0.0, 0.0)
    if sky.fraction > 0:
        cloud_level = float(np.quantile(probe, 1.0 - sky.fraction))
    else:
        cloud_level = float("inf")  # a clear world (tests)
    haze_level = float(np.quantile(probe, max(0.0, 1.0 - sky.fraction - sky.haze_fraction)))
    return CloudField(coarse, pad, cloud_level, min(haze_level, cloud_level - 1e-3))


def atmosphere(
    field: CloudField,
    sky: Sky,
    shape: tuple[int, int],
    *,
    sun_azimuth: float,
    sun_elevation: float,
    drift_px: tuple[float, float] = (0.0, 0.0),
) -> Atmosphere:
    """Render the field for one acquisition: the sun sets the shadows, ``drift_px`` (rows,
    cols) moves the clouds between passes of the same morning."""
    here = _sample(field.coarse, field.pad_px, shape, *drift_px)
    opacity = _opacity(here, field.cloud_level)
    below = (here - field.haze_level) / (field.cloud_level - field.haze_level)
    haze = np.where(opacity > 0, 0.0, HAZE_MAX * np.clip(below, 0.0, 1.0) ** 1.5)
    haze = (haze + sky.global_haze).astype(np.float32)
    # Shadow at q comes from the cloud at q - d, d pointing away from the sun.
    reach = sky.height_m / math.tan(math.radians(max(sun_elevation, 30.0))) / 10.0
    az = math.radians(sun_azimuth)
    dr, dc = -reach * math.cos(az), reach * math.sin(az)
    caster = _sample(field.coarse, field.pad_px, shape, drift_px[0] + dr, drift_px[1] + dc)
    # Thin cloud edges cast faint shadows: strength rises from 0 at the edge of the caster.
    shadow = (
        np.clip(_opacity(caster, field.cloud_level) - MIN_OPACITY, 0, None) / (1 - MIN_OPACITY)
    ) ** 0.7
    return Atmosphere(opacity, haze, shadow.astype(np.float32), sky.cirrus)


def apply_atmosphere(surface: np.ndarray, atm: Atmosphere) -> np.ndarray:
    """Top-of-canopy reflectance ``(band, y, x)`` as seen through the sky."""
    shaded = surface * (1.0 - SHADOW_DEPTH * atm.shadow)[None]
    hazy = shaded + spectra.HAZE[:, None, None] * atm.haze[None]
    alpha = atm.opacity[None]
    cloud = spectra.CLOUD[:, None, None] * (0.75 + 0.25 * alpha)
    return (hazy * (1.0 - alpha) + cloud * alpha).astype(np.float32)


def drift_for(seed: int, day: int) -> tuple[float, float]:
    """How far (10 m pixels) the clouds move between the Landsat and Sentinel-2 passes."""
    rng = rng_for(seed, "drift", day)
    return float(rng.uniform(-25, 25)), float(rng.uniform(-25, 25))


def _opacity(field: np.ndarray, level: float) -> np.ndarray:
    inside = field >= level
    ramp = np.clip((field - level) / 0.6, 0.0, 1.0)
    return np.where(inside, MIN_OPACITY + (1 - MIN_OPACITY) * ramp, 0.0).astype(np.float32)


def _sample(
    coarse: np.ndarray, pad: int, shape: tuple[int, int], dr: float, dc: float
) -> np.ndarray:
    """Bilinear samples of the coarse field at the world's 10 m pixel centres, moved by
    (dr, dc) pixels."""
    rows = (np.arange(shape[0], dtype=np.float32) + pad + dr + 0.5) / COARSE - 0.5
    cols = (np.arange(shape[1], dtype=np.float32) + pad + dc + 0.5) / COARSE - 0.5
    # Separable bilinear interpolation: two 1-D zooms are much cheaper than map_coordinates.
    r0 = np.clip(np.floor(rows).astype(int), 0, coarse.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(int), 0, coarse.shape[1] - 2)
    fr = np.clip(rows - r0, 0, 1)[:, None].astype(np.float32)
    fc = np.clip(cols - c0, 0, 1)[None, :].astype(np.float32)
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)
