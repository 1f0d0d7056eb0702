"""Seeded, demo-like synthetic landscapes for training and tests: true reflectance over dates.

A Congo Basin mosaic at the fine (10 m) pixel size: forest with crown texture (detail that a
30 m pixel averages away), rivers, narrow laterite roads (1–2 px wide, so only a 10 m guide can
place them), smallholder fields, villages, and clearings that appear and regrow between dates,
with per-date phenology and illumination. Spectra are Landsat-OLI-like surface reflectance of
the main covers (forest, soil, crops, water, laterite). This is the training source until (and
beside) the demo world of :mod:`fusion.demo`; it is deliberately cheap (a 288² scene in well
under a second) so it can be made on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

# blue, green, red, nir08, swir16, swir22 — typical tropical surface reflectance.
SPECTRA: Final = {
    "forest": (0.020, 0.045, 0.025, 0.300, 0.140, 0.060),
    "regrowth": (0.030, 0.060, 0.040, 0.340, 0.180, 0.085),
    "crop": (0.040, 0.080, 0.060, 0.360, 0.220, 0.110),
    "bare": (0.070, 0.100, 0.130, 0.220, 0.300, 0.220),
    "water": (0.040, 0.050, 0.040, 0.020, 0.010, 0.005),
    "road": (0.100, 0.140, 0.180, 0.250, 0.320, 0.260),
    "roof": (0.150, 0.170, 0.190, 0.250, 0.280, 0.240),
}


@dataclass(frozen=True)
class SceneStack:
    """True reflectance of one place on several dates, on the fine grid."""

    name: str
    truth: np.ndarray
    """(T, 6, H, W) float32, NaN where unknown."""
    days: np.ndarray
    """(T,) day numbers of the dates (differences are time gaps)."""
    pixel_m: float
    """Fine pixel size in metres (10 for Sentinel-2; 20 or 30 in reduced-scale sources)."""


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered white noise."""
    field = ndimage.gaussian_filter(
        rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap"
    )
    return (field - field.mean()) / (field.std() + 1e-6)


def _spec(name: str) -> np.ndarray:
    return np.asarray(SPECTRA[name], dtype=np.float32)


def _paint(
    img: np.ndarray, mask: np.ndarray, spec: np.ndarray, jitter: np.ndarray | None = None
) -> None:
    val = spec[:, None] * (1.0 if jitter is None else jitter[mask][None, :])
    img[:, mask] = val


def _curve(
    rng: np.random.Generator, shape: tuple[int, int], width: float, wiggle: float
) -> np.ndarray:
    """A random sinuous line across the scene, ``width`` px wide."""
    h, w = shape
    n = 4 * max(h, w)
    angle = rng.uniform(0, np.pi)
    heading = angle + np.cumsum(rng.normal(0, wiggle, n))
    start = np.array([rng.uniform(0, h), rng.uniform(0, w)])
    pts = start + np.cumsum(np.stack([np.sin(heading), np.cos(heading)], 1) * 0.5, 0)
    pts = np.concatenate([pts, start - (pts - start)])
    line = np.zeros(shape, bool)
    ij = np.round(pts).astype(int)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < h) & (ij[:, 1] >= 0) & (ij[:, 1] < w)
    line[ij[ok, 0], ij[ok, 1]] = True
    return ndimage.distance_transform_edt(~line) <= width / 2


def _blobs(
    rng: np.random.Generator, shape: tuple[int, int], count: int, rmin: float, rmax: float
) -> np.ndarray:
    """Labelled irregular blobs (ellipses roughened by noise); 0 = none."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    labels = np.zeros(shape, np.int32)
    rough = smooth_noise(rng, shape, 2.0)
    for k in range(1, count + 1):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(rmin, rmax, 2)
        th = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dy * np.cos(th) + dx * np.sin(th)) / ry
        v = (-dy * np.sin(th) + dx * np.cos(th)) / rx
        labels[(u * u + v * v) < 1.0 + 0.3 * rough] = k
    return labels


def make_scene(
    seed: int, *, size: int = 288, n_dates: int = 4, name: str | None = None
) -> SceneStack:
    """One synthetic Congo-like landscape over ``n_dates`` dates (seeded, deterministic)."""
    rng = np.random.default_rng([seed, 7919])
    shape = (size, size)
    base = np.empty((6, *shape), np.float32)
    # Forest with crowns: 10–20 m crowns and their shadows, the detail 30 m averages away.
    crowns = smooth_noise(rng, shape, rng.uniform(0.6, 1.2))
    canopy = 1.0 + rng.uniform(0.10, 0.25) * crowns + 0.08 * smooth_noise(rng, shape, 8.0)
    base[:] = _spec("forest")[:, None, None] * canopy[None]
    # Smallholder farmland: Voronoi fields inside a low-frequency agricultural zone.
    zone = smooth_noise(rng, shape, size / 8) > rng.uniform(0.0, 1.2)
    seeds = rng.uniform(0, size, (int(rng.integers(30, 120)), 2))
    yy, xx = np.mgrid[0:size, 0:size]
    _, field_id = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], 1))
    field_id = field_id.reshape(shape)
    covers = ("crop", "bare", "regrowth", "crop")
    for fid in range(len(seeds)):
        m = zone & (field_id == fid)
        if m.any():
            mix = _spec(covers[fid % 4]) * rng.uniform(0.85, 1.15, 6).astype(np.float32)
            _paint(base, m, mix, 1.0 + 0.05 * crowns)
    # Field edges: bare 1 px borders make sharp sub-30 m structure.
    edges = zone & (ndimage.grey_dilation(field_id, 3) != ndimage.grey_erosion(field_id, 3))
    _paint(base, edges & (rng.random(shape) < 0.6), _spec("bare"))
    for _ in range(int(rng.integers(0, 2))):
        _paint(base, _curve(rng, shape, rng.uniform(2, 8), 0.05), _spec("water"))
    for _ in range(int(rng.integers(1, 4))):
        _paint(
            base,
            _curve(rng, shape, rng.uniform(1.0, 2.2), 0.02),
            _spec("road") * rng.uniform(0.8, 1.2),
        )
    villages = _blobs(rng, shape, int(rng.integers(0, 4)), 3, 9) > 0
    _paint(base, villages & (rng.random(shape) < 0.5), _spec("roof"))

    days = np.sort(rng.choice(np.arange(0, 400), n_dates, replace=False)).astype(np.float32)
    clearings = _blobs(rng, shape, int(rng.integers(5, 25)), 1.5, 10)
    appear = rng.uniform(days[0] - 100, days[-1] + 50, clearings.max() + 1)
    regrow = rng.uniform(60, 300, clearings.max() + 1)
    truth = np.empty((n_dates, 6, *shape), np.float32)
    for t, day in enumerate(days):
        img = base * (1 + rng.normal(0, 0.04, (6, 1, 1))).astype(
            np.float32
        )  # phenology/illumination
        img *= 1 + 0.03 * smooth_noise(rng, shape, size / 4)[None]
        age = day - appear[clearings]
        active = (clearings > 0) & (age >= 0)
        frac = np.clip(1 - age / regrow[clearings], 0, 1)[active]  # 1 = bare, 0 = regrown
        mixed = _spec("bare")[:, None] * frac + _spec("regrowth")[:, None] * (1 - frac)
        img[:, active] = mixed * (1 + 0.1 * crowns[active])[None]
        truth[t] = np.clip(img, 0.001, 1.0)
    return SceneStack(name or f"synthetic-{seed}", truth, days, 10.0)
