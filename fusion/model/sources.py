"""Training, calibration and test scenes from every source, with fixed, disjoint splits.

* synthetic (:mod:`fusion.model.synthetic`): seeds 0… train, 1000… calibration, 2000… test;
* demo world (:mod:`fusion.demo`): true 10 m reflectance (``demo_truth``) of whole worlds on
  many dates; worlds with seeds 11, 12 train, 13 calibration, 10 test (other worlds *and*
  other dates);
* real (:mod:`fusion.model.realdata`): Virginia Sentinel-2 (20 m) split by region, Landsat
  crops (30 m, the 90 → 30 m scale) split by scene.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from fusion.model.realdata import landsat_crops, virginia_s2
from fusion.model.synthetic import SceneStack, make_scene

Split = Literal["train", "calibration", "test"]
log = logging.getLogger("fusion")
_SYNTH_SEED0: Final = {"train": 0, "calibration": 1000, "test": 2000}
_DEMO_SEEDS: Final = {"train": (11, 12), "calibration": (13,), "test": (10,)}
VIRGINIA_CAL_COL: Final = 378  # Virginia train rows: columns ≥ this are the calibration region


class SourceWeights(BaseModel):
    """How often each source is drawn while training (0 disables it)."""

    model_config = ConfigDict(extra="forbid")
    synthetic: float = 0.4
    demo: float = 0.25
    virginia: float = 0.2
    landsat: float = 0.15


class SourceConfig(BaseModel):
    """Where the training scenes come from."""

    model_config = ConfigDict(extra="forbid")
    weights: SourceWeights = SourceWeights()
    synthetic_scenes: int = 24
    synthetic_size: int = 288
    synthetic_dates: int = 4
    demo_size_m: int = 3840
    demo_dates: int = 12
    shared_data: Path | None = None
    """Folder of the real data; default ``$FUSION_SHARED_DATA`` or ``../shared/data``."""
    demo_cache: Path | None = None


@dataclass(frozen=True)
class SceneSet:
    scenes: list[SceneStack]
    weights: list[float]
    """Per-scene draw weight (source weight shared among its scenes)."""
    used: dict[str, list[str]]
    """Source → scene names actually used; recorded in the weights metadata."""


def build_scenes(cfg: SourceConfig, split: Split) -> SceneSet:
    """Scenes of one split; sources whose data is missing are skipped and reported in ``used``."""
    groups: dict[str, list[SceneStack]] = {}
    w = cfg.weights
    if w.synthetic > 0:
        n = cfg.synthetic_scenes if split == "train" else max(2, cfg.synthetic_scenes // 4)
        seed0 = _SYNTH_SEED0[split]
        groups["synthetic"] = [
            make_scene(seed0 + i, size=cfg.synthetic_size, n_dates=cfg.synthetic_dates)
            for i in range(n)
        ]
    if w.demo > 0:
        demo = demo_scenes(
            _DEMO_SEEDS[split], size_m=cfg.demo_size_m, n_dates=cfg.demo_dates, cache=cfg.demo_cache
        )
        if demo:
            groups["demo"] = demo
    if w.virginia > 0:
        try:
            v = virginia_s2(cfg.shared_data, split="test" if split == "test" else "train")
        except Exception as exc:
            log.warning("training source virginia skipped: %s", exc)
            v = None
        if v is not None:
            cut = VIRGINIA_CAL_COL
            if split == "train":
                v = SceneStack(v.name, v.truth[..., :cut], v.days, v.pixel_m)
            elif split == "calibration":
                v = SceneStack("virginia-s2-calibration", v.truth[..., cut:], v.days, v.pixel_m)
            groups["virginia"] = [v]
    if w.landsat > 0 and split != "calibration":
        try:
            groups["landsat"] = landsat_crops(
                cfg.shared_data, split="test" if split == "test" else "train"
            )
        except Exception as exc:
            log.warning("training source landsat skipped: %s", exc)
    scenes: list[SceneStack] = []
    weights: list[float] = []
    for name, group in groups.items():
        share = getattr(w, name)
        scenes += group
        weights += [share / len(group)] * len(group)
    return SceneSet(scenes, weights, {k: [s.name for s in g] for k, g in groups.items()})


def demo_scenes(
    seeds: tuple[int, ...], *, size_m: int, n_dates: int, cache: Path | None
) -> list[SceneStack]:
    """True reflectance of demo worlds on ``n_dates`` dates spread over a year (empty if the
    demo simulator is unavailable)."""
    try:
        from odc.geo.geobox import GeoBox

        from fusion.demo import demo_truth, ensure_demo_catalog
    except ImportError:
        return []
    out = []
    start, end = dt.date(2023, 1, 1), dt.date(2023, 12, 31)
    for seed in seeds:
        # An equatorial UTM box in the Congo Basin (zone 34S), origin on a multiple of 30 m.
        x0, y0 = 300_000 + 30 * 1000 * seed, 9_900_000
        gbox = GeoBox.from_bbox((x0, y0, x0 + size_m, y0 + size_m), crs="EPSG:32734", resolution=10)
        try:
            cat = ensure_demo_catalog(gbox, start=start, end=end, seed=seed, cache_dir=cache)
            rng = np.random.default_rng([seed, 17])
            days = np.sort(rng.choice(365, n_dates, replace=False))
            truth = [demo_truth(cat, start + dt.timedelta(days=int(d))).values for d in days]
        except Exception as exc:
            log.warning("training source demo skipped: %s", exc)
            return []
        out.append(
            SceneStack(
                f"demo-{seed}", np.stack(truth).astype(np.float32), days.astype(np.float32), 10.0
            )
        )
    return out
