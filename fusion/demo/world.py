"""The static 10 m surface of the demo world and its reflectance on any date.

A closed lowland forest with canopy-scale texture, crossed by a meandering river with swamp
forest along it, laterite roads, villages (small bright clusters) and farm patches with their
own two-season cycle (the Congo Basin has two rainy seasons a year). Clearings
(:mod:`fusion.demo.clearings`) are laid over it by :func:`truth_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fusion.demo import spectra
from fusion.demo.clearings import ClearingTable, clearing_weights
from fusion.demo.landcover import FARMLAND, FOREST, ROAD, SWAMP_FOREST, VILLAGE, WATER
from fusion.demo.noise import fractal_noise, rng_for, smooth_noise


@dataclass(frozen=True)
class Surface:
    """The static world on its 10 m grid."""

    base: np.ndarray
    """``(band, y, x)`` float32 OLI-like reflectance: forest in its mean state, farms green."""
    classes: np.ndarray
    """``(y, x)`` uint8 land-cover class (``CLASS_NAMES``)."""
    farm_phase: np.ndarray
    """``(y, x)`` float32 phase (radians) of each farm patch's seasonal cycle; NaN elsewhere."""


def build_surface(shape: tuple[int, int], *, seed: int) -> Surface:
    """Draw the static world for a grid of ``shape`` (rows, cols) at 10 m."""
    rng = rng_for(seed, "surface")
    classes = np.full(shape, FOREST, dtype=np.uint8)
    river_dist = _river_distance(rng, shape)
    swamp_width = rng.uniform(6.0, 12.0) * (1 + 0.3 * smooth_noise(rng, shape, 30.0))
    classes[river_dist < swamp_width] = SWAMP_FOREST
    river_width = rng.uniform(2.0, 4.0) * (1 + 0.15 * smooth_noise(rng, shape, 60.0))
    classes[river_dist < river_width] = WATER
    roads = _roads(rng, shape)
    classes[roads] = ROAD
    villages = _villages(rng, roads, classes)
    classes[villages] = VILLAGE
    farm_phase = _farms(rng, roads | villages, classes)
    classes[np.isfinite(farm_phase)] = FARMLAND
    return Surface(_reflectance(rng, classes), classes, farm_phase)


def truth_at(
    surface: Surface, clearing_id: np.ndarray, table: ClearingTable, day: int
) -> np.ndarray:
    """True 10 m reflectance ``(band, y, x)`` float32 on the proleptic ordinal ``day``."""
    out = surface.base.copy()
    doy = (day - 1) % 365.2425
    # Mild forest phenology: NIR follows leaf flush through the year (±2 %).
    vegetated = (surface.classes == FOREST) | (surface.classes == SWAMP_FOREST)
    out[3][vegetated] *= np.float32(1.0 + 0.02 * np.sin(2 * np.pi * doy / 365.2425))
    # Farms: two seasons a year; bare share m runs 0 (green crop) .. 1 (fallow, tilled).
    farms = np.isfinite(surface.farm_phase)
    if farms.any():
        m = 0.5 + 0.5 * np.cos(2 * np.pi * doy / 182.62 + surface.farm_phase[farms])
        out[:, farms] += (spectra.FALLOW - spectra.CROP)[:, None] * m[None, :].astype(np.float32)
    # Clearings: mix toward the cleared spectrum by the clearing's weight on this day.
    weights = clearing_weights(table, day)
    where = clearing_id > 0
    if where.any() and weights.any():
        ids = clearing_id[where]
        w = weights[ids]
        cleared = table.spectra[ids].T  # (band, n)
        # Keep some of the canopy texture in the cleared spectrum (debris, soil patches).
        texture = np.clip(surface.base[3][where] / spectra.FOREST[3], 0.7, 1.3)
        target = cleared * texture[None, :]
        out[:, where] = out[:, where] * (1 - w)[None, :] + target * w[None, :]
    return out.astype(np.float32, copy=False)


def _river_distance(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Distance (px) to a meandering river centreline crossing the world roughly W–E."""
    ny, nx = shape
    theta = rng.uniform(-0.5, 0.5)
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
    y -= ny / 2
    x -= nx / 2
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    size = max(ny, nx)
    v0 = rng.uniform(-0.3, 0.3) * min(ny, nx)
    amps = rng.uniform(0.04, 0.09, 2) * size
    waves = (rng.uniform(0.5, 1.2) * size, rng.uniform(0.15, 0.3) * size)  # long bends, meanders
    phases = rng.uniform(0, 2 * np.pi, 2)
    centre = v0 + np.zeros_like(u)
    slope = np.zeros_like(u)
    for amp, wave, phase in zip(amps, waves, phases, strict=True):
        k = 2 * np.pi / wave
        centre += amp * np.sin(k * u + phase)
        slope += amp * k * np.cos(k * u + phase)
    # Vertical offset times cos(angle of the centreline): the perpendicular distance, closely.
    return np.abs(v - centre) / np.sqrt(1 + slope * slope)


def _walk(
    rng: np.random.Generator, shape: tuple[int, int], start: np.ndarray, heading: float, steps: int
) -> np.ndarray:
    """Pixels (rows, cols) along a gently curving track, as a boolean mask."""
    turn = np.cumsum(rng.normal(0.0, 0.012, steps))
    turn -= np.linspace(0, turn[-1], steps) * 0.5  # keep the road's general direction
    angles = heading + turn
    rows = start[0] + np.cumsum(0.5 * np.sin(angles))
    cols = start[1] + np.cumsum(0.5 * np.cos(angles))
    keep = (rows >= 0) & (rows < shape[0] - 0.5) & (cols >= 0) & (cols < shape[1] - 0.5)
    mask = np.zeros(shape, dtype=bool)
    mask[np.round(rows[keep]).astype(int), np.round(cols[keep]).astype(int)] = True
    return mask


def _roads(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A main laterite road crossing the world N–S, plus one or two branches."""
    ny, nx = shape
    steps = 4 * (ny + nx)
    start = np.array([0.0, rng.uniform(0.25, 0.75) * nx])
    main = _walk(rng, shape, start, np.pi / 2 + rng.uniform(-0.35, 0.35), steps)
    # Main roads are about 10–15 m of bare laterite: two pixels wide.
    main = ndimage.binary_dilation(main, structure=np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]]))
    roads = main.copy()
    on_main = np.argwhere(main)
    for _ in range(int(rng.integers(1, 3))):
        origin = on_main[rng.integers(len(on_main))].astype(float)
        heading = rng.choice([0.0, np.pi]) + rng.uniform(-0.5, 0.5)
        roads |= _walk(rng, shape, origin, heading, int(rng.uniform(0.6, 1.6) * nx))
    return roads


def _villages(rng: np.random.Generator, roads: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Two or three compact clusters of roofs and bare yards strung along the roads."""
    ny, nx = roads.shape
    mask = np.zeros(roads.shape, dtype=bool)
    on_road = np.argwhere(roads)
    y, x = np.ogrid[0:ny, 0:nx]
    outline = smooth_noise(rng, roads.shape, 6.0)
    for _ in range(int(rng.integers(2, 4))):
        cy, cx = on_road[rng.integers(len(on_road))]
        radius = rng.uniform(7.0, 14.0)
        inside = np.hypot(y - cy, x - cx) < radius * (1 + 0.3 * outline)
        mask |= inside & (rng.random(roads.shape) < 0.85)  # a few trees between houses
    return mask & (classes != WATER) & ~roads


def _farms(rng: np.random.Generator, access: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Rectangular farm patches near roads and villages; returns each pixel's season phase."""
    ny, nx = classes.shape
    phase = np.full(classes.shape, np.nan, dtype=np.float32)
    distance = ndimage.distance_transform_edt(~access)
    candidates = np.argwhere((distance > 3) & (distance < 50) & (classes == FOREST))
    if len(candidates) == 0:
        return phase
    n = max(4, int(access.sum() / 40))
    y, x = np.ogrid[0:ny, 0:nx]
    for _ in range(n):
        cy, cx = candidates[rng.integers(len(candidates))]
        half_a, half_b = rng.uniform(2.5, 7.5, 2)
        angle = rng.uniform(0, np.pi)
        u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        patch = (np.abs(u) <= half_a) & (np.abs(v) <= half_b) & (classes == FOREST)
        phase[patch & np.isnan(phase)] = rng.uniform(0, 2 * np.pi)
    return phase


def _reflectance(rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    """Base reflectance of each class with texture: crowns, stands, roofs, soil."""
    shape = classes.shape
    crowns = smooth_noise(rng, shape, 2.0)  # crowns 10–30 m across
    stands = fractal_noise(rng, shape, corner_px=40.0)  # stand structure, hundreds of metres
    # Relative texture per band: the visible varies more than the NIR (shadowed crowns).
    crown_amp = np.array([0.18, 0.15, 0.18, 0.09, 0.12, 0.14], dtype=np.float32)[:, None, None]
    texture = 1 + crown_amp * crowns[None] + 0.05 * stands[None]
    texture *= np.where(crowns < -1.4, 0.8, 1.0)[None]  # deep gaps between crowns
    out = np.empty((spectra.NBANDS, *shape), dtype=np.float32)
    library = {
        FOREST: spectra.FOREST,
        SWAMP_FOREST: spectra.SWAMP_FOREST,
        WATER: spectra.WATER,
        ROAD: spectra.ROAD,
        FARMLAND: spectra.CROP,
    }
    for cls, spec in library.items():
        where = classes == cls
        out[:, where] = spec[:, None]
    vegetated = (classes == FOREST) | (classes == SWAMP_FOREST) | (classes == FARMLAND)
    out = np.where(vegetated[None], out * texture, out)
    water = classes == WATER
    out[:, water] *= 1 + 0.08 * stands[water][None]  # turbidity
    road = classes == ROAD
    out[:, road] *= 1 + 0.05 * rng.standard_normal(int(road.sum()), dtype=np.float32)[None]
    village = classes == VILLAGE
    if village.any():
        mix = rng.dirichlet([2.0, 2.0, 1.5], int(village.sum())).astype(np.float32)
        parts = np.stack([spectra.ROOF, spectra.BARE_SOIL, spectra.CROP], axis=1)
        out[:, village] = parts @ mix.T
    return out.astype(np.float32)
