"""Forest clearings of the demo world: where, when, how big, and how fast they regrow.

Small smallholder clearings (0.05–5 ha, most under 1 ha: log-uniform sizes) near roads,
villages and farms, plus a few large ones (5–20 ha). Each appears on its ``clear_date``
(never during the history period) and then returns gradually to forest reflectance over
``regrowth_days``: Congo Basin smallholder clearings regrow within months, which is why a
single sensor misses many of them (DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from odc.geo.geobox import GeoBox
from rasterio import features
from scipy import ndimage

from fusion.demo import spectra
from fusion.demo.config import DemoConfig
from fusion.demo.landcover import FARMLAND, FOREST, ROAD, VILLAGE
from fusion.demo.noise import rng_for

ClearingKind = Literal["smallholder", "large"]
KINDS: tuple[ClearingKind, ...] = ("smallholder", "large")


@dataclass(frozen=True)
class Clearing:
    """One ground-truth clearing."""

    id: int
    """1-based; the value of its pixels in the clearing-id raster."""
    geometry: shapely.Polygon
    """Outline in the world's CRS (UTM)."""
    area_ha: float
    """Area of the polygon."""
    clear_date: dt.date
    """First day the clearing exists."""
    regrowth_days: int
    """Days until its reflectance is back to forest."""
    kind: ClearingKind
    severity: float
    """Share of the cleared spectrum reached on ``clear_date`` (1 = bare)."""


@dataclass(frozen=True)
class ClearingTable:
    """The clearings as arrays indexed by id (row 0 is 'no clearing')."""

    clear_day: np.ndarray
    """Proleptic ordinal of the clear date, int64."""
    regrowth_days: np.ndarray
    severity: np.ndarray
    spectra: np.ndarray
    """``(n + 1, band)`` cleared reflectance of each clearing."""

    @classmethod
    def from_rows(
        cls,
        ids: list[int],
        clear_dates: list[dt.date],
        regrowth_days: list[int],
        severity: list[float],
        kinds: list[str],
    ) -> ClearingTable:
        n = max(ids, default=0)
        day = np.zeros(n + 1, np.int64)
        regrow = np.ones(n + 1, np.float32)
        sev = np.zeros(n + 1, np.float32)
        spec = np.zeros((n + 1, spectra.NBANDS), np.float32)
        for i, d, r, s, k in zip(ids, clear_dates, regrowth_days, severity, kinds, strict=True):
            day[i], regrow[i], sev[i] = d.toordinal(), r, s
            spec[i] = spectra.SLASH if k == "smallholder" else spectra.BARE_SOIL
        return cls(day, regrow, sev, spec)


def table_of(clearings: list[Clearing]) -> ClearingTable:
    """The arrays :func:`clearing_weights` needs."""
    return ClearingTable.from_rows(
        [c.id for c in clearings],
        [c.clear_date for c in clearings],
        [c.regrowth_days for c in clearings],
        [c.severity for c in clearings],
        [c.kind for c in clearings],
    )


def clearing_weights(table: ClearingTable, day: int) -> np.ndarray:
    """Weight of the cleared spectrum of each clearing on ``day``: 0 before it and after regrowth."""
    age = (day - table.clear_day).astype(np.float32)
    s = np.clip(age / table.regrowth_days, 0.0, 1.0)
    remaining = 1.0 - s * s * (3.0 - 2.0 * s)  # smoothstep: fast at first, then levels off
    weights = np.where(age >= 0, table.severity * remaining, 0.0).astype(np.float32)
    weights[0] = 0.0
    return weights


def place_clearings(
    classes: np.ndarray,
    geobox: GeoBox,
    aoi: tuple[slice, slice],
    *,
    start: dt.date,
    end: dt.date,
    seed: int,
    config: DemoConfig,
) -> tuple[list[Clearing], np.ndarray]:
    """Place clearings in the forest inside the AOI window; return them and the id raster."""
    rng = rng_for(seed, "clearings")
    first = start + dt.timedelta(days=config.history_days)
    last = end - dt.timedelta(days=config.end_buffer_days)
    ids = np.zeros(classes.shape, dtype=np.uint16)
    if last <= first:
        return [], ids
    inside = np.zeros(classes.shape, dtype=bool)
    inside[aoi] = True
    area_km2 = inside.sum() * 1e-4  # 10 m pixels
    years = (last - first).days / 365.25
    n_large = round(config.large_clearings_per_km2_year * area_km2 * years)
    if area_km2 * 100 >= 10 * config.large_clearing_ha[0]:
        n_large = max(n_large, 1)
    n_small = max(
        config.min_clearings, round(config.small_clearings_per_km2_year * area_km2 * years)
    )
    lo, hi = np.log(config.small_clearing_ha[0]), np.log(config.small_clearing_ha[1])
    sizes = np.concatenate(
        [
            np.sort(rng.uniform(*config.large_clearing_ha, n_large))[::-1],
            np.sort(np.exp(rng.uniform(lo, hi, n_small)))[::-1],
        ]
    )
    large: list[ClearingKind] = ["large"] * n_large
    small: list[ClearingKind] = ["smallholder"] * n_small
    kinds = large + small
    # Stratified dates: spread evenly over the monitoring period, in random order.
    n = len(sizes)
    span = (last - first).days
    offsets = ((np.arange(n) + rng.random(n)) / n * span).astype(int)
    dates = [first + dt.timedelta(days=int(d)) for d in rng.permutation(offsets)]

    access = ndimage.distance_transform_edt(
        ~np.isin(classes, [ROAD, VILLAGE, FARMLAND])
    )  # px to the nearest road, village or farm: smallholders clear near access
    preference = (0.15 + np.exp(-access / 60.0)).astype(np.float64)
    blocked = (classes != FOREST) | ~inside
    clearings: list[Clearing] = []
    for size, kind, date in zip(sizes, kinds, dates, strict=True):
        clearing = _place_one(rng, geobox, blocked, preference, float(size), kind, date, config)
        if clearing is None:
            continue
        clearing = dataclasses.replace(clearing, id=len(clearings) + 1)
        mask = features.rasterize(
            [(clearing.geometry, 1)], out_shape=classes.shape, transform=geobox.affine, fill=0
        ).astype(bool)
        if not mask.any():
            continue
        ids[mask & (ids == 0)] = clearing.id
        # Keep a gap of 20 m between clearings so each stays one polygon in the truth.
        blocked |= ndimage.binary_dilation(mask, iterations=2)
        clearings.append(clearing)
    return clearings, ids


def _place_one(
    rng: np.random.Generator,
    geobox: GeoBox,
    blocked: np.ndarray,
    preference: np.ndarray,
    area_ha: float,
    kind: ClearingKind,
    date: dt.date,
    config: DemoConfig,
) -> Clearing | None:
    radius_px = np.sqrt(area_ha * 1e4 / np.pi) / 10.0
    room = ndimage.distance_transform_edt(~blocked)
    fits = room > radius_px * 1.4 + 1.5
    if not fits.any():
        return None
    weights = np.where(fits, preference, 0.0).ravel()
    flat = rng.choice(weights.size, p=weights / weights.sum())
    row, col = divmod(int(flat), blocked.shape[1])
    centre_x, centre_y = geobox.affine * (col + 0.5, row + 0.5)
    # A lumpy, somewhat elongated outline, scaled to the exact area.
    k = 16
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    lumps = 1 + 0.18 * np.convolve(np.tile(rng.standard_normal(k), 3), np.ones(3) / 3, "same")[k:-k]
    stretch, turn = rng.uniform(1.0, 1.7), rng.uniform(0, np.pi)
    u, v = lumps * np.cos(angles) * stretch, lumps * np.sin(angles) / stretch
    xs = u * np.cos(turn) - v * np.sin(turn)
    ys = u * np.sin(turn) + v * np.cos(turn)
    shape = shapely.Polygon(np.column_stack([xs, ys]))
    scale = np.sqrt(area_ha * 1e4 / shape.area)
    polygon = shapely.Polygon(np.column_stack([centre_x + xs * scale, centre_y + ys * scale]))
    regrowth = config.regrowth_days if kind == "smallholder" else config.large_regrowth_days
    return Clearing(
        id=0,
        geometry=polygon,
        area_ha=round(polygon.area / 1e4, 4),
        clear_date=date,
        regrowth_days=int(rng.integers(regrowth[0], regrowth[1] + 1)),
        kind=kind,
        severity=round(float(rng.uniform(0.75, 1.0)), 3),
    )
