"""Detection benchmark (issue 4): confirmed alerts of ``fusion run`` against the demo world's truth.

For each seed (tuning seeds, and held-out seeds that nobody tunes on) and each series
(``landsat``, ``sentinel2``, ``fused``) the whole pipeline runs on ``congo.geojson`` over the
demo period, and its ``confidence.tif``, ``alert_date.tif`` and ``alerts.gpkg`` are compared
with the world's clearings (``clearing_id.tif`` and ``clearings.gpkg`` of the truth folder).

Rules (also written into the output under ``rules``):

* **Eligible clearings**: clear date on or after the monitor start and at least
  ``CONFIRMABLE_DAYS`` before the period end. Pixels of other clearings (too late to confirm)
  are left out of the evaluation: an alert there is neither a hit nor a false alarm.
* **Area-based accuracy** on 10 m pixels inside the AOI polygon: detected = confidence 2
  (confirmed); reference = pixels of eligible clearings. PA = TP/(TP+FN), UA = TP/(TP+FP),
  F1 = 2TP/(2TP+FP+FN), commission error = 1 − UA. The ``>= 0.1 ha`` variant keeps only
  eligible clearings of at least 0.1 ha as reference and leaves the smaller ones out.
* **Detected clearing**: at least ``DETECTED_SHARE`` of its pixels inside the AOI confirmed.
* **Lag** per detected clearing: ``confirmed`` = earliest confirmation date of the confirmed
  alert polygons covering it (``alerts.gpkg``; no confirmed-date raster is written) minus the
  clear date; ``first_anomaly`` = median over its confirmed pixels of ``alert_date`` (the first
  anomalous date) minus the clear date; ``oracle`` = the earliest day any of its pixels met
  the oracle below (its second clear look below forest, by either sensor for ``fused``) minus
  the clear date: a monitor that confirms on two looks cannot be faster. Medians over detected
  clearings.
* **Oracle**: an eligible clearing pixel counts when one sensor, Landsat (30 m pixel) or
  Sentinel-2 (20 m pixel: NBR needs B8A and B12), has at least ``ORACLE_MIN_OBS``
  acquisitions within ``ORACLE_WINDOW_DAYS`` days after the clear date whose sensor pixel has
  no cloud and no flagged shadow (replayed from the simulator's own atmosphere) and whose NBR
  as seen (through unflagged haze and penumbra, without noise) lies at least ``ORACLE_DROP``
  below the pixel's true forest NBR (the day before the monitor start). Every archived
  acquisition counts, whatever its scene cloud cover. Diagnostic variants: strictly clear
  pixels only; after the pipeline's scene prefilter and an approximate mask buffer.
* **False alarms** (confirmed pixels that are not eligible-clearing pixels) are attributed to
  ``edge`` (within 20 m of any truth clearing), ``atmosphere`` (an acquisition of the series on
  the alert date saw the pixel through unflagged haze or shadow penumbra that the buffered
  masks did not remove), ``non_forest`` (road, village, farm, water) or ``other``.

Run: ``PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/detection.py`` — prints JSON and
writes ``benchmarks/results/detection.json``. Targets are checked, never assumed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import yaml
from rasterio import features
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "detection.json"
AOI = REPO / "congo.geojson"
SERIES = ("landsat", "sentinel2", "fused")
TUNING_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (7, 8)
"""Never tune the monitor or the fusion on these worlds."""

CONFIRMABLE_DAYS = 30
DETECTED_SHARE = 0.5
MIN_HA = 0.1
ORACLE_WINDOW_DAYS = 120
ORACLE_MIN_OBS = 2
ORACLE_DROP = 0.15
SHADOW_FLAG_STRENGTH = (
    0.4  # fusion.demo.clouds.SHADOW_FLAG: the sensors' masks flag stronger shadow
)
CLEAR_SHADOW = 0.05
CLEAR_HAZE = 0.05
EDGE_PX = 2
PIXEL_HA = 0.01
SIZE_BINS: tuple[tuple[float, float, str], ...] = (
    (0.0, 0.1, "<0.1 ha"),
    (0.1, 0.5, "0.1-0.5 ha"),
    (0.5, 2.0, "0.5-2 ha"),
    (2.0, math.inf, ">2 ha"),
)
ORIGIN = dt.date(2015, 1, 1)  # alert_date.tif encoding: days since this date, 0 = none

# --------------------------------------------------------------------------------------------
# Metrics: pure functions of arrays.


def area_accuracy(
    detected: np.ndarray, reference: np.ndarray, evaluated: np.ndarray
) -> dict[str, Any]:
    """Pixel counts, producer's and user's accuracy, F1 and commission error over ``evaluated``."""
    d, r = detected & evaluated, reference & evaluated
    tp, fp, fn = int((d & r).sum()), int((d & ~r).sum()), int((~d & r).sum())
    return accuracy_from_counts(tp, fp, fn)


def accuracy_from_counts(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """The accuracy figures of pixel counts (None where undefined); pooled counts add up."""
    pa = tp / (tp + fn) if tp + fn else None
    ua = tp / (tp + fp) if tp + fp else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {
        "tp_px": tp,
        "fp_px": fp,
        "fn_px": fn,
        "detected_ha": round((tp + fp) * PIXEL_HA, 2),
        "true_detected_ha": round(tp * PIXEL_HA, 2),
        "reference_ha": round((tp + fn) * PIXEL_HA, 2),
        "producers_accuracy": _round(pa),
        "users_accuracy": _round(ua),
        "f1": _round(f1),
        "commission_error": _round(None if ua is None else 1 - ua),
    }


def clearing_shares(
    clearing_id: np.ndarray, detected: np.ndarray, ids: Iterable[int]
) -> dict[int, float]:
    """Share of each clearing's pixels (ids > 0 in ``clearing_id``) that are ``detected``."""
    n = int(clearing_id.max(initial=0)) + 1
    total = np.bincount(clearing_id.ravel(), minlength=n)
    hit = np.bincount(clearing_id[detected].ravel(), minlength=n)
    return {i: float(hit[i] / total[i]) for i in ids if 0 < i < n and total[i] > 0}


def detection_by_size(
    area_ha: Mapping[int, float],
    share: Mapping[int, float],
    *,
    min_share: float = DETECTED_SHARE,
    bins: tuple[tuple[float, float, str], ...] = SIZE_BINS,
) -> dict[str, dict[str, Any]]:
    """Clearings, detected clearings and detection rate per size class (``lo <= area < hi``)."""
    out: dict[str, dict[str, Any]] = {}
    for lo, hi, label in bins:
        ids = [i for i in share if lo <= area_ha[i] < hi]
        hits = sum(share[i] >= min_share for i in ids)
        out[label] = {"clearings": len(ids), "detected": hits, "rate": _rate(hits, len(ids))}
    return out


def clearing_lags(
    clearing_id: np.ndarray,
    detected: np.ndarray,
    day: np.ndarray,
    clear_day: Mapping[int, int],
    *,
    how: str = "median",
) -> dict[int, float]:
    """Per clearing in ``clear_day``: median (or min) of ``day − clear day`` over its detected
    pixels with a finite ``day``; clearings with none are left out."""
    out: dict[int, float] = {}
    reduce = np.median if how == "median" else np.min
    for i, cleared in clear_day.items():
        values = day[(clearing_id == i) & detected & np.isfinite(day)]
        if values.size:
            out[i] = float(reduce(values)) - cleared
    return out


def seen_clearly(
    clear: np.ndarray,
    drop: np.ndarray,
    obs_day: int,
    clear_day: np.ndarray,
    *,
    window_days: int = ORACLE_WINDOW_DAYS,
    min_drop: float = ORACLE_DROP,
) -> np.ndarray:
    """Pixels one observation saw clearly below forest within ``window_days`` of clearing."""
    age = obs_day - clear_day
    return clear & (drop >= min_drop) & (age >= 0) & (age <= window_days)


def mark_reached(
    reached: np.ndarray, count: np.ndarray, day: int, *, looks: int = ORACLE_MIN_OBS
) -> None:
    """Set ``reached`` (NaN: not yet) to ``day`` where ``count`` first has ``looks`` looks;
    called in time order, it keeps the day of each pixel's ``looks``-th look."""
    reached[(count >= looks) & np.isnan(reached)] = day


def block(array: np.ndarray, factor: int, how: str) -> np.ndarray:
    """Reduce ``factor × factor`` blocks (``mean``, ``all``, ``any``) and repeat back to the
    input's shape, so each pixel carries the value of the sensor pixel it falls in."""
    if factor == 1:
        return array
    ny, nx = array.shape
    blocks = array.reshape(ny // factor, factor, nx // factor, factor)
    reduced = getattr(blocks, how)(axis=(1, 3))
    return np.repeat(np.repeat(reduced, factor, axis=0), factor, axis=1)


def median(values: Iterable[float]) -> float | None:
    v = list(values)
    return round(float(np.median(v)), 1) if v else None


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 3) if n else None


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


# --------------------------------------------------------------------------------------------
# One world: truth on the tile grid, the simulator's atmosphere per acquisition.


@dataclass
class World:
    seed: int
    tile: Any
    catalog: Any
    inside: np.ndarray
    clearing_id: np.ndarray
    """On the tile grid, 0 outside the AOI polygon."""
    clearing_id_all: np.ndarray
    """Any clearing (eligible or not) on the tile grid, bool."""
    classes: np.ndarray
    """Land-cover class on the tile grid."""
    clearings: pd.DataFrame
    start: dt.date
    monitor_start: dt.date
    end: dt.date


@dataclass
class Truth:
    """Per world, independent of the series: oracle counts and per-date atmosphere."""

    oracle_counts: dict[str, np.ndarray]
    strict_counts: dict[str, np.ndarray]
    pipeline_counts: dict[str, np.ndarray]
    clear_counts: dict[str, np.ndarray]
    oracle_day: dict[str, np.ndarray]
    """Per pixel, the day (ordinal; NaN: never) of the oracle's ``ORACLE_MIN_OBS``-th clear look
    below forest: per sensor, and ``combined`` for looks of either sensor (what the fused
    series can confirm with). No monitor that waits for that many looks confirms earlier."""
    contaminated: dict[tuple[str, int], np.ndarray]
    """(sensor, day ordinal) → pixels the buffered masks keep but haze/penumbra touch."""
    facts: dict[str, Any]


def catalog_for_seed(seed: int, folder: Path) -> Path:
    """A copy of data_catalog.yaml whose demo source uses ``seed``."""
    doc = yaml.safe_load((REPO / "data_catalog.yaml").read_text())
    doc["sources"]["demo"]["seed"] = seed
    path = folder / f"data_catalog_s{seed}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def load_world(seed: int) -> World:
    from odc.geo.xr import rasterize

    from fusion.aoi import aoi_grid, read_aoi
    from fusion.demo import ensure_demo_catalog
    from fusion.pipeline.config import DEMO_END, DEMO_START, RunConfig

    (tile,) = aoi_grid(read_aoi(AOI))
    catalog = ensure_demo_catalog(tile.geobox, start=DEMO_START, end=DEMO_END, seed=seed)
    rows, cols = catalog.geobox.overlap_roi(tile.geobox)
    with rasterio.open(catalog.truth_dir / "clearing_id.tif") as src:
        ids = src.read(1)[rows, cols].astype(np.int32)
    with rasterio.open(catalog.truth_dir / "classes.tif") as src:
        classes = src.read(1)[rows, cols]
    inside = np.asarray(rasterize(tile.geometry, tile.geobox).values, dtype=bool)
    table = gpd.read_file(catalog.clearings_path)
    table["clear_date"] = pd.to_datetime(table["clear_date"]).dt.date
    return World(
        seed=seed,
        tile=tile,
        catalog=catalog,
        inside=inside,
        clearing_id=np.where(inside, ids, 0),
        clearing_id_all=ids > 0,
        classes=classes,
        clearings=pd.DataFrame(table.drop(columns="geometry")).set_index("id"),
        start=DEMO_START,
        monitor_start=RunConfig(aoi=AOI).resolved_monitor_start(),
        end=DEMO_END,
    )


def eligible_ids(world: World) -> list[int]:
    last = world.end - dt.timedelta(days=CONFIRMABLE_DAYS)
    present = set(np.unique(world.clearing_id)) - {0}
    c = world.clearings
    ok = (c["clear_date"] >= world.monitor_start) & (c["clear_date"] <= last)
    return sorted(int(i) for i in c.index[ok] if int(i) in present)


def simulate_truth(world: World, *, max_cloud: float, buffer_m: float) -> Truth:
    """Replay the simulator's atmosphere for every acquisition and count what each sensor saw."""
    from fusion.demo import demo_truth
    from fusion.demo.clouds import (
        SHADOW_FLAG,
        apply_atmosphere,
        atmosphere,
        cloud_field,
        drift_for,
    )
    from fusion.demo.config import DEFAULT_CONFIG
    from fusion.demo.schedule import LANDSAT, plan, site_of

    cat, cfg = world.catalog, DEFAULT_CONFIG
    shape = (cat.geobox.shape.y, cat.geobox.shape.x)
    rows, cols = cat.geobox.overlap_roi(world.tile.geobox)
    site = site_of(cat.geobox)
    facts = {f["item_id"]: f for f in json.loads(cat.acquisitions_path.read_text())}
    day0 = world.monitor_start.toordinal()
    clear_day = np.full(world.clearing_id.shape, 10**9, np.int64)  # far future: never in window
    for i in eligible_ids(world):
        clear_day[world.clearing_id == i] = world.clearings.loc[i, "clear_date"].toordinal()
    factor = {"landsat": 3, "sentinel2": 2}

    def nbr(reflectance: np.ndarray, f: int) -> np.ndarray:
        """NBR of ``(band, y, x)`` reflectance as a sensor of ``f`` × 10 m pixels sees it."""
        nir, swir = block(reflectance[3], f, "mean"), block(reflectance[5], f, "mean")
        return ((nir - swir) / (nir + swir))[rows, cols]

    before = demo_truth(cat, world.monitor_start - dt.timedelta(days=1)).values
    forest = {s: nbr(before, f) for s, f in factor.items()}
    radius = round(buffer_m / 10)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy**2 + xx**2 <= radius**2
    zeros = {s: np.zeros(world.clearing_id.shape, np.int32) for s in factor}
    oracle, strict, piped, clear_n = ({s: z.copy() for s, z in zeros.items()} for _ in range(4))
    contaminated: dict[tuple[str, int], np.ndarray] = {}
    # Acquisitions come in time order, so the first day a count reaches the oracle's number
    # of looks is the oracle's confirmation day.
    reached = {s: np.full(world.clearing_id.shape, np.nan) for s in (*factor, "combined")}
    fields: dict[int, Any] = {}
    truths: dict[int, np.ndarray] = {}
    seen: set[tuple[str, dt.date]] = set()
    for acq in plan(site, start=world.start, end=world.end, seed=world.seed, config=cfg):
        sensor = "landsat" if acq.collection == LANDSAT else "sentinel2"
        day = acq.date.toordinal()
        if day < day0 or (acq.platform, acq.date) in seen:  # history, or reprocessed duplicate
            continue
        seen.add((acq.platform, acq.date))
        if day not in fields:
            fields[day] = cloud_field(acq.sky, shape, seed=world.seed, day=day, config=cfg)
        atm = atmosphere(
            fields[day],
            acq.sky,
            shape,
            sun_azimuth=acq.sun_azimuth,
            sun_elevation=acq.sun_elevation,
            drift_px=drift_for(world.seed, day) if sensor == "landsat" else (0.0, 0.0),
        )
        # Not flagged by the sensor's own cloud and shadow masks (before any dilation).
        unflagged10 = (atm.opacity == 0) & (atm.shadow < SHADOW_FLAG)
        # Strictly clear: no unflagged penumbra or local haze either.
        clear10 = (
            unflagged10
            & (atm.shadow < CLEAR_SHADOW)
            & (atm.haze - acq.sky.global_haze < CLEAR_HAZE)
        )
        kept10 = ~ndimage.binary_dilation(~unflagged10, disk) if radius else unflagged10
        f = factor[sensor]
        unflagged = block(unflagged10, f, "all")[rows, cols]
        clear = block(clear10, f, "all")[rows, cols]
        kept = block(kept10, f, "all")[rows, cols]
        item = facts.get(acq.item_id(site), {})
        searched = float(item.get("eo:cloud_cover", 0.0)) < max_cloud  # as search.cloud_ok
        in_window = (day - clear_day >= 0) & (day - clear_day <= ORACLE_WINDOW_DAYS)
        clear_n[sensor] += unflagged & in_window
        if in_window.any():
            if day not in truths:
                truths[day] = demo_truth(cat, acq.date).values
            # What the sensor saw (through haze and penumbra, noise-free) vs the true surface.
            observed_drop = forest[sensor] - nbr(apply_atmosphere(truths[day], atm), f)
            true_drop = forest[sensor] - nbr(truths[day], f)
            hit = seen_clearly(unflagged, observed_drop, day, clear_day)
            oracle[sensor] += hit
            mark_reached(reached[sensor], oracle[sensor], day)
            mark_reached(reached["combined"], oracle["landsat"] + oracle["sentinel2"], day)
            strict[sensor] += seen_clearly(clear, true_drop, day, clear_day)
            if searched:
                piped[sensor] += hit & kept
        if searched:
            dirty = block(kept10 & ~clear10, f, "any")[rows, cols] & kept
            key = (sensor, day)
            contaminated[key] = dirty | contaminated.get(key, False)
    observed = {
        "mean_true_cloud_fraction": round(
            float(np.mean([f["cloud_fraction"] for f in facts.values()])), 3
        ),
        "mean_eo_cloud_cover": round(
            float(np.mean([f["eo:cloud_cover"] for f in facts.values()])), 2
        ),
        "mean_unflagged_haze_fraction": round(
            float(np.mean([f["unflagged_haze_fraction"] for f in facts.values()])), 3
        ),
        "acquisitions": {
            s: sum(f["collection"].startswith(p) for f in facts.values())
            for s, p in (("landsat", "landsat"), ("sentinel2", "sentinel"))
        },
    }
    return Truth(oracle, strict, piped, clear_n, reached, contaminated, observed)


# --------------------------------------------------------------------------------------------
# One pipeline run, scored.


def run_series(world: World, series: str, catalog: Path, out: Path) -> tuple[dict[str, Any], float]:
    from fusion.pipeline.config import RunConfig
    from fusion.pipeline.runner import run

    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(RunConfig(aoi=AOI, out=out, catalog=catalog, series=series), progress=False)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    record = result.manifest.tiles[0]
    outputs = read_outputs(world, out)
    outputs["info"] = {
        **outputs["info"],
        "scenes": record.scenes,
        "median_valid_observations": record.valid_observations,
        "alerts": record.alerts,
        "runtime_s": round(seconds, 1),
    }
    return outputs, seconds


def read_outputs(world: World, out: Path) -> dict[str, Any]:
    """Confirmed pixels, first anomalous day and confirmed day (ordinals) of a run's outputs."""
    folder = out / world.tile.id
    with rasterio.open(folder / "confidence.tif") as src:
        confidence = src.read(1)
    with rasterio.open(folder / "alert_date.tif") as src:
        alert = src.read(1).astype(np.float64)
    with rasterio.open(folder / "valid_count.tif") as src:
        count = src.read(1)[world.inside]
    assert confidence.shape == world.clearing_id.shape, "alert grid differs from the tile grid"
    alert[alert == 0] = np.nan
    alert += ORIGIN.toordinal()
    return {
        "confirmed": confidence == 2,
        "alert_day": alert,
        "confirmed_day": _confirmed_day(out / "alerts.gpkg", world),
        "info": {"median_monitor_valid_count": float(np.median(count)) if count.size else None},
    }


def _confirmed_day(gpkg: Path, world: World) -> np.ndarray:
    """Per pixel, the confirmed date (day ordinal) of the confirmed polygon covering it."""
    out = np.full(world.clearing_id.shape, np.nan)
    if not gpkg.is_file():
        return out
    polys = gpd.read_file(gpkg)
    polys = polys[polys["confidence"] == 2]
    if polys.empty:
        return out
    polys = polys.to_crs(world.tile.geobox.crs.to_wkt())
    days = pd.to_datetime(polys["confirmed_date"]).dt.date.map(lambda d: d.toordinal())
    burned = features.rasterize(
        [(g, float(d)) for g, d in zip(polys.geometry, days, strict=True)],
        out_shape=out.shape,
        transform=world.tile.geobox.affine,
        fill=np.nan,
        dtype="float64",
    )
    return np.asarray(burned, dtype=np.float64)


def score(world: World, truth: Truth, series: str, outputs: dict[str, Any]) -> dict[str, Any]:
    from fusion.demo.landcover import FOREST, SWAMP_FOREST

    ids = eligible_ids(world)
    cid, inside = world.clearing_id, world.inside
    area = {i: float(world.clearings.loc[i, "area_ha"]) for i in ids}
    big = [i for i in ids if area[i] >= MIN_HA]
    others = (cid > 0) & ~np.isin(cid, ids)  # too late to confirm: not evaluated
    reference = np.isin(cid, ids)
    detected = outputs["confirmed"] & inside
    accuracy = area_accuracy(detected, reference, inside & ~others)
    small = np.isin(cid, [i for i in ids if i not in big])
    accuracy_big = area_accuracy(detected, np.isin(cid, big), inside & ~others & ~small)
    shares = clearing_shares(cid, detected, ids)
    hits = [i for i in ids if shares.get(i, 0.0) >= DETECTED_SHARE]
    clear_day = {i: world.clearings.loc[i, "clear_date"].toordinal() for i in hits}
    first = clearing_lags(cid, detected, outputs["alert_day"], clear_day)
    confirmed = clearing_lags(cid, detected, outputs["confirmed_day"], clear_day, how="min")
    # The same clearings' oracle lag: the earliest day any of their pixels had its second
    # clear look below forest (by either sensor for the fused series).
    everywhere = np.ones_like(detected)
    oracle_day = truth.oracle_day["combined" if series == "fused" else series]
    oracle = clearing_lags(cid, everywhere, oracle_day, clear_day, how="min")
    # False alarms by likely cause.
    fp = detected & ~reference & ~others
    edge = ndimage.binary_dilation(world.clearing_id_all, iterations=EDGE_PX)
    sensors = ("landsat", "sentinel2") if series == "fused" else (series,)
    atmos = np.zeros_like(fp)
    days = outputs["alert_day"]
    for (sensor, day), dirty in truth.contaminated.items():
        if sensor in sensors:
            atmos |= dirty & (days == day)
    non_forest = ~np.isin(world.classes, (FOREST, SWAMP_FOREST))
    causes = {
        "edge": fp & edge,
        "atmosphere": fp & ~edge & atmos,
        "non_forest": fp & ~edge & ~atmos & non_forest,
    }
    causes["other"] = fp & ~causes["edge"] & ~causes["atmosphere"] & ~causes["non_forest"]
    return {
        **outputs["info"],
        "eligible_clearings": len(ids),
        "all_sizes": accuracy,
        "min_0_1_ha": accuracy_big,
        "by_size": detection_by_size(area, shares),
        "detected_clearings": len(hits),
        "lag_confirmed_days": {int(k): v for k, v in confirmed.items()},
        "lag_first_anomaly_days": {int(k): v for k, v in first.items()},
        "median_lag_confirmed_days": median(confirmed.values()),
        "median_lag_first_anomaly_days": median(first.values()),
        "lag_oracle_days": {int(k): v for k, v in oracle.items()},
        "median_lag_oracle_days": median(oracle.values()),
        "clearings_alerted_before_clear_date": sum(v < 0 for v in first.values()),
        "false_alarm_ha": {k: round(int(v.sum()) * PIXEL_HA, 2) for k, v in causes.items()},
        "_shares": shares,
    }


# --------------------------------------------------------------------------------------------
# Pooling and targets.


def oracle_figures(world: World, truth: Truth) -> dict[str, Any]:
    ids = eligible_ids(world)
    ref = np.isin(world.clearing_id, ids)
    big_ids = [i for i in ids if world.clearings.loc[i, "area_ha"] >= MIN_HA]
    big = np.isin(world.clearing_id, big_ids)
    o, p, c = truth.oracle_counts, truth.pipeline_counts, truth.clear_counts

    def ha(mask: np.ndarray) -> float:
        return round(int((mask & ref).sum()) * PIXEL_HA, 2)

    def med(a: np.ndarray) -> float | None:
        return float(np.median(a[ref])) if ref.any() else None

    n = ORACLE_MIN_OBS
    return {
        "reference_ha": ha(ref),
        "oracle_ha": ha((o["landsat"] >= n) | (o["sentinel2"] >= n)),
        "reference_min_0_1_ha": ha(big),
        "oracle_min_0_1_ha": ha(big & ((o["landsat"] >= n) | (o["sentinel2"] >= n))),
        "oracle_landsat_ha": ha(o["landsat"] >= n),
        "oracle_sentinel2_ha": ha(o["sentinel2"] >= n),
        "oracle_combined_any_two_ha": ha(o["landsat"] + o["sentinel2"] >= n),
        # What spatial confirmation can reach: a single clear look below forest (it confirms
        # such a look beside pixels that two looks confirmed).
        "seen_once_ha": ha(o["landsat"] + o["sentinel2"] >= 1),
        "seen_once_min_0_1_ha": ha(big & (o["landsat"] + o["sentinel2"] >= 1)),
        "oracle_strictly_clear_ha": ha(
            (truth.strict_counts["landsat"] >= n) | (truth.strict_counts["sentinel2"] >= n)
        ),
        "oracle_after_prefilter_and_buffer_ha": ha((p["landsat"] >= n) | (p["sentinel2"] >= n)),
        "median_unflagged_obs_120d": {s: med(c[s]) for s in c},
        "median_clear_below_forest_obs_120d": {s: med(o[s]) for s in o},
    }


def pool(per_seed: dict[int, dict[str, Any]], seeds: Iterable[int]) -> dict[str, Any]:
    seeds = [s for s in seeds if s in per_seed]
    out: dict[str, Any] = {"seeds": seeds}
    for series in SERIES:
        runs = [per_seed[s][series] for s in seeds]
        agg: dict[str, Any] = {}
        for key in ("all_sizes", "min_0_1_ha"):
            agg[key] = accuracy_from_counts(
                *(sum(r[key][k] for r in runs) for k in ("tp_px", "fp_px", "fn_px"))
            )
        by_size: dict[str, dict[str, Any]] = {}
        for _, _, label in SIZE_BINS:
            n = sum(r["by_size"][label]["clearings"] for r in runs)
            k = sum(r["by_size"][label]["detected"] for r in runs)
            by_size[label] = {"clearings": n, "detected": k, "rate": _rate(k, n)}
        agg["by_size"] = by_size
        agg["eligible_clearings"] = sum(r["eligible_clearings"] for r in runs)
        agg["detected_clearings"] = sum(r["detected_clearings"] for r in runs)
        for lag in ("lag_confirmed_days", "lag_first_anomaly_days", "lag_oracle_days"):
            agg[f"median_{lag}"] = median(v for r in runs for v in r.get(lag, {}).values())
        agg["false_alarm_ha"] = (
            {
                k: round(sum(r["false_alarm_ha"][k] for r in runs), 2)
                for k in runs[0]["false_alarm_ha"]
            }
            if runs
            else {}
        )
        out[series] = agg
    oracle = [per_seed[s]["oracle"] for s in seeds]
    out["oracle"] = (
        {k: round(sum(o.get(k, 0.0) for o in oracle), 2) for k in oracle[0] if k.endswith("_ha")}
        if oracle
        else {}
    )
    # Share of the reference each bound covers, and the F1 of a detector that confirms
    # exactly its pixels and nothing else.
    bounds = (("oracle", "f1_upper_bound"), ("seen_once", "f1_seen_once"))
    for suffix in ("", "_min_0_1"):
        ref = out["oracle"].get(f"reference{suffix}_ha")
        for name, f1_key in bounds:
            area = out["oracle"].get(f"{name}{suffix}_ha")
            if ref and area is not None:
                share = area / ref
                out["oracle"][f"{name}_share_of_reference{suffix}"] = round(share, 4)
                out["oracle"][f"{f1_key}{suffix}"] = round(2 * share / (1 + share), 4)
    return out


def targets(agg: dict[str, Any]) -> list[dict[str, Any]]:
    fused, ls, s2 = agg["fused"], agg["landsat"], agg["sentinel2"]
    better = max((ls, s2), key=lambda r: r["all_sizes"]["tp_px"])
    better_name = "landsat" if better is ls else "sentinel2"
    f1 = fused["min_0_1_ha"]["f1"]
    bound = agg["oracle"].get("f1_upper_bound_min_0_1")
    once = agg["oracle"].get("f1_seen_once_min_0_1")
    gain = fused["all_sizes"]["tp_px"] - better["all_sizes"]["tp_px"]
    ce_f, ce_b = fused["all_sizes"]["commission_error"], better["all_sizes"]["commission_error"]
    oracle = agg["oracle"].get("oracle_ha") or 0.0
    share = fused["all_sizes"]["true_detected_ha"] / oracle if oracle else None
    lag = fused["median_lag_confirmed_days"]
    return [
        {
            "target": "fused F1 >= 0.85 on clearings >= 0.1 ha",
            "value": f1,
            "pass": f1 is not None and f1 >= 0.85,
            "note": f"F1 of a detector confirming exactly the oracle pixels (>= 0.1 ha): {bound}; "
            f"exactly the pixels seen clearly below forest at least once: {once}",
        },
        {
            "target": f"fused detects more disturbed area than the better single sensor ({better_name})",
            "value": {
                "fused_true_ha": fused["all_sizes"]["true_detected_ha"],
                f"{better_name}_true_ha": better["all_sizes"]["true_detected_ha"],
                "gain_ha": round(gain * PIXEL_HA, 2),
            },
            "pass": gain > 0,
        },
        {
            "target": f"fused commission error <= that of {better_name}",
            "value": {"fused": ce_f, better_name: ce_b},
            # None: not applicable, the better sensor confirmed nothing (no commission to compare)
            "pass": None if ce_b is None else ce_f is not None and ce_f <= ce_b,
        },
        {
            "target": ">= 90 % of the oracle bound (fused true detected area / oracle area)",
            "value": _round(share),
            "pass": share is not None and share >= 0.9,
        },
        {
            "target": "median detection lag (confirmed date - clear date) <= 20 days",
            "value": lag,
            "pass": lag is not None and lag <= 20,
            "note": "median oracle lag of the same clearings (second clear look below forest, "
            f"either sensor): {fused.get('median_lag_oracle_days')} days",
        },
    ]


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(TUNING_SEEDS))
    parser.add_argument("--held-out", type=int, nargs="*", default=list(HELD_OUT_SEEDS))
    parser.add_argument("--keep", type=Path, default=None, help="keep the run outputs here")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--repool",
        type=Path,
        default=None,
        help="recompute aggregates and targets of an earlier results file (no pipeline runs)",
    )
    args = parser.parse_args(argv)
    if args.repool is not None:
        report = json.loads(args.repool.read_text())
        per = {int(k): v for k, v in report["per_seed"].items()}
        tuning, held_out = report["seeds"]["tuning"], report["seeds"]["held_out"]
        report["aggregate"] = _aggregates(per, tuning, held_out)
        report["targets"] = _targets(report["aggregate"], held_out)
        return _emit(report, write=not args.no_write)

    from fusion.catalog.config import load_data_catalog
    from fusion.demo import DEMO_CONDITIONS
    from fusion.pipeline.config import DEMO_START, RunConfig

    began = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fusion-detection-"))
    work.mkdir(parents=True, exist_ok=True)
    setting = load_data_catalog(REPO / "data_catalog.yaml").search.max_cloud
    max_cloud = 100.0 if setting is None else float(setting)
    buffer_m = RunConfig(aoi=AOI).mask_buffer_m
    per_seed: dict[int, dict[str, Any]] = {}
    try:
        for seed in [*args.seeds, *args.held_out]:
            world = load_world(seed)
            t0 = time.perf_counter()
            truth = simulate_truth(world, max_cloud=max_cloud, buffer_m=buffer_m)
            entry: dict[str, Any] = {
                "held_out": seed in args.held_out,
                "observed_conditions": truth.facts,
                "clearings": [
                    {
                        "id": int(i),
                        "area_ha": float(r["area_ha"]),
                        "clear_date": str(r["clear_date"]),
                        "regrowth_days": int(r["regrowth_days"]),
                        "kind": r["kind"],
                        "eligible": int(i) in eligible_ids(world),
                    }
                    for i, r in world.clearings.iterrows()
                ],
                "oracle": oracle_figures(world, truth),
                "truth_seconds": round(time.perf_counter() - t0, 1),
            }
            catalog = catalog_for_seed(seed, work)
            for series in SERIES:
                outputs, _ = run_series(world, series, catalog, work / f"s{seed}" / series)
                result = score(world, truth, series, outputs)
                shares = result.pop("_shares")
                for c in entry["clearings"]:
                    if c["id"] in shares:
                        c[f"share_{series}"] = round(shares[c["id"]], 3)
                entry[series] = result
                print(f"seed {seed} {series}: {_brief(result)}", file=sys.stderr, flush=True)
            per_seed[seed] = entry
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    aggregate = _aggregates(per_seed, args.seeds, args.held_out)
    report = {
        "benchmark": "detection (issue 4)",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seeds": {
            "tuning": args.seeds,
            "held_out": args.held_out,
            "note": "held-out seeds are never used to tune the monitor or the fusion; report, don't tune",
        },
        "demo_conditions": DEMO_CONDITIONS,
        "period": {
            "start": str(DEMO_START),
            "end": str(RunConfig(aoi=AOI).period()[1]),
            "monitor_start": str(RunConfig(aoi=AOI).resolved_monitor_start()),
            "aoi": AOI.name,
        },
        "monitor": dict(RunConfig(aoi=AOI).monitor),
        "alert_layers": {
            "edge_share": RunConfig(aoi=AOI).edge_share,
            "mmu_ha": RunConfig(aoi=AOI).mmu_ha,
        },
        "rules": {
            "eligible_clearing": f"clear_date >= monitor_start and <= period end - {CONFIRMABLE_DAYS} days; other clearings' pixels are not evaluated",
            "detected_pixel": "confidence.tif == 2 (confirmed), inside the AOI polygon",
            "area_accuracy": "10 m pixels; PA = TP/(TP+FN), UA = TP/(TP+FP), F1 = 2TP/(2TP+FP+FN), commission = 1 - UA; pooled over seeds by summing pixel counts",
            "min_0_1_ha": f"reference = eligible clearings >= {MIN_HA} ha; smaller eligible clearings are not evaluated",
            "detected_clearing": f">= {DETECTED_SHARE:.0%} of its pixels inside the AOI confirmed",
            "lag_oracle": "per detected clearing: earliest day any of its pixels met the oracle (its second clear look below forest; either sensor for fused) - clear_date; clearings the oracle never saw twice are left out; a monitor that confirms on two looks cannot be faster",
            "lag_confirmed": "per detected clearing: earliest confirmed_date of the confirmed alerts.gpkg polygons over its pixels - clear_date; median over detected clearings (the pass/fail figure)",
            "lag_first_anomaly": "per detected clearing: median over its confirmed pixels of alert_date (first anomalous date) - clear_date",
            "oracle": f"eligible clearing pixels that Landsat (30 m pixel) or Sentinel-2 (20 m pixel, B8A/B12) saw >= {ORACLE_MIN_OBS} times within {ORACLE_WINDOW_DAYS} days after clearing with no cloud and no flagged shadow (shadow strength < {SHADOW_FLAG_STRENGTH}) in any 10 m sub-pixel, and an NBR, as seen through the simulator's haze and penumbra without noise, >= {ORACLE_DROP} below the pixel's true forest NBR (day before monitor start); every archived acquisition counts (reprocessed duplicates once, whatever eo:cloud_cover); the sensor's own masks are not dilated",
            "oracle_strictly_clear": f"diagnostic: the same with no unflagged penumbra (shadow < {CLEAR_SHADOW}) or local haze (< {CLEAR_HAZE} haze units) either, and the true (not seen) NBR drop",
            "oracle_after_prefilter_and_buffer": f"diagnostic: the oracle, only scenes with eo:cloud_cover < {max_cloud} (the search prefilter) and pixels outside cloud/flagged shadow dilated by {buffer_m} m (approximates the pipeline's masks; Landsat's CFMask dilation is not modelled)",
            "oracle_combined_any_two": "diagnostic: two such observations from either sensor together",
            "seen_once": "diagnostic: at least one such observation from either sensor; what a monitor with spatial confirmation (grow_m) can reach, one clear look per pixel",
            "false_alarm_causes": f"edge: within {EDGE_PX * 10} m of any truth clearing; atmosphere: on its alert date an acquisition of the series saw the pixel through unflagged haze/penumbra that the buffered masks kept; non_forest: not forest/swamp forest; other: the rest",
        },
        "per_seed": per_seed,
        "aggregate": aggregate,
        "targets": _targets(aggregate, args.held_out),
        "runtime_s": round(time.perf_counter() - began, 1),
        "machine": {"cpus": os.cpu_count(), "niceness": os.nice(0)},
    }
    return _emit(report, write=not args.no_write)


def _aggregates(
    per_seed: dict[int, dict[str, Any]], tuning: list[int], held_out: list[int]
) -> dict[str, Any]:
    return {
        "all_seeds": pool(per_seed, per_seed),
        "tuning_seeds": pool(per_seed, tuning),
        "held_out_seeds": pool(per_seed, held_out),
    }


def _targets(aggregate: dict[str, Any], held_out: list[int]) -> dict[str, Any]:
    return {
        "all_seeds": targets(aggregate["all_seeds"]),
        "held_out_seeds": targets(aggregate["held_out_seeds"]) if held_out else [],
    }


def _emit(report: dict[str, Any], *, write: bool) -> int:
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n")
    return 0


def _brief(r: dict[str, Any]) -> str:
    a, b = r["all_sizes"], r["min_0_1_ha"]
    return (
        f"PA {a['producers_accuracy']} UA {a['users_accuracy']} F1 {a['f1']} | >=0.1ha F1 {b['f1']} "
        f"| lag {r['median_lag_confirmed_days']} | {r['runtime_s']} s"
    )


if __name__ == "__main__":
    sys.exit(main())
