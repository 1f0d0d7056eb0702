"""Wald-protocol training samples: fine truth → block-mean input + a guide from another view.

Target: true reflectance at the fine pixel size (Sentinel-2 10 m; 20 m or 30 m in the
reduced-scale real sources). Input: its 3×3 block mean — what Landsat sees (Wald et al.
1997). Guide: another view of the same place at the fine pixel size, drawn from scenarios the
network must learn to judge (DESIGN.md, "a stale guide does no harm"):

``clear``       a near date (or the target re-observed: gain/offset/noise jitter) with a small
                misregistration (sub-pixel shift)
``stale``       a far date, or the target with local changes (clearings, pasted content) and
                phenology
``hazy``        clear or stale, under unflagged haze
``cloudy``      clear, under clouds and shadows; flagged cores NaN, thin edges not flagged
``masked``      clear with flagged (NaN) cloud holes
``none``        no guide
``hazy_target`` the Landsat date is hazy (target and input), the guide clear
``cloudy_target`` the Landsat date has clouds its mask missed, the guide is clear

Landsat inputs also get cloud holes (NaN) and a little noise. Every sample is drawn from a
``numpy.random.Generator`` the caller seeds, so training is reproducible and resumable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import torch

from fusion.model.consistency import SCALE, block_mean_np
from fusion.model.synthetic import SPECTRA, SceneStack, smooth_noise

Scenario = Literal[
    "clear", "stale", "hazy", "cloudy", "masked", "none", "hazy_target", "cloudy_target"
]
SCENARIOS: Final[tuple[Scenario, ...]] = (
    "clear",
    "stale",
    "hazy",
    "cloudy",
    "masked",
    "none",
    "hazy_target",
    "cloudy_target",
)
HAZE: Final = np.array([0.25, 0.22, 0.20, 0.16, 0.10, 0.06], np.float32)
CLOUD: Final = np.array([0.45, 0.45, 0.46, 0.50, 0.40, 0.30], np.float32)


@dataclass(frozen=True)
class Batch:
    landsat: torch.Tensor
    """(N, 6, h, w), NaN = invalid."""
    guide: torch.Tensor
    """(N, 6, 3h, 3w), NaN = invalid (all NaN for 'none')."""
    dt_days: torch.Tensor
    """(N, 1, 1, 1)."""
    target: torch.Tensor
    """(N, 6, 3h, 3w), NaN = unknown."""
    scenarios: tuple[Scenario, ...]


def make_batch(
    scenes: Sequence[SceneStack],
    weights: Sequence[float],
    rng: np.random.Generator,
    *,
    batch: int,
    patch: int,
    scenario_p: dict[Scenario, float] | None = None,
    scenario: Scenario | None = None,
) -> Batch:
    """Draw ``batch`` samples of ``patch``×``patch`` fine pixels (a multiple of 3)."""
    if patch % SCALE:
        raise ValueError(f"patch {patch} is not a multiple of {SCALE}")
    p = np.asarray(weights, float) / np.sum(weights)
    names = list(scenario_p) if scenario_p else list(SCENARIOS)
    probs = np.asarray([scenario_p[n] for n in names], float) if scenario_p else np.ones(len(names))
    probs /= probs.sum()
    out: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []
    chosen: list[Scenario] = []
    for _ in range(batch):
        scene = scenes[int(rng.choice(len(scenes), p=p))]
        sc: Scenario = scenario or names[int(rng.choice(len(names), p=probs))]
        out.append(make_sample(scene, rng, patch=patch, scenario=sc))
        chosen.append(sc)
    ls, gs, dts, ts = zip(*out, strict=True)
    return Batch(
        torch.from_numpy(np.stack(ls)),
        torch.from_numpy(np.stack(gs)),
        torch.tensor(dts, dtype=torch.float32).view(-1, 1, 1, 1),
        torch.from_numpy(np.stack(ts)),
        tuple(chosen),
    )


def make_sample(
    scene: SceneStack,
    rng: np.random.Generator,
    *,
    patch: int | tuple[int, int],
    scenario: Scenario,
    t1: int | None = None,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """One ``(landsat, guide, dt_days, target)`` sample from a scene.

    ``t1`` fixes the target date (else random). ``augment=False`` (benchmarks) keeps the crop
    centred and unrotated and leaves Landsat as the exact block mean, without holes.
    """
    n_t, _, h, w = scene.truth.shape
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    if h < ph + 2 or w < pw + 2:
        raise ValueError(f"scene {scene.name} ({h}×{w}) is smaller than patch {ph}×{pw} + 2")
    for _ in range(8):  # avoid crops that are mostly nodata
        t = int(rng.integers(n_t)) if t1 is None else t1
        if augment:
            y0, x0 = int(rng.integers(1, h - ph - 1)), int(rng.integers(1, w - pw - 1))
        else:
            y0, x0 = (h - ph) // 2, (w - pw) // 2
        target = scene.truth[t, :, y0 : y0 + ph, x0 : x0 + pw]
        if np.isfinite(target).mean() > 0.9 or not augment:
            break
    t1 = t
    target = target.copy()
    dt = 0.0
    if scenario == "none":
        guide = np.full_like(target, np.nan)
        dt = float(rng.uniform(0, 60))
    else:
        far = scenario == "stale" or (scenario == "hazy" and rng.random() < 0.5)
        guide, dt = _other_view(scene, t1, y0, x0, (ph, pw), rng, far=far)
        if scenario in ("hazy", "hazy_target"):
            if scenario == "hazy":
                guide = _haze(guide, rng, rng.uniform(0.1, 0.7))
            else:  # the Landsat date is the hazy one; the guide is clear
                target = _haze(target, rng, rng.uniform(0.05, 0.35))
        elif scenario == "cloudy_target":  # unflagged clouds over Landsat, clear guide
            target = _clouds(target, rng, flag=False)
        elif scenario == "cloudy":
            guide = _clouds(guide, rng, flag=rng.random() < 0.5)
        elif scenario == "masked":
            guide = _clouds(guide, rng, flag=True, only_mask=True)
    if augment:
        k = int(rng.integers(4))  # same rotation/flip for all
        target, guide = np.rot90(target, k, (1, 2)), np.rot90(guide, k, (1, 2))
        if rng.random() < 0.5:
            target, guide = target[:, :, ::-1], guide[:, :, ::-1]
    landsat = block_mean_np(np.ascontiguousarray(target))
    if augment and rng.random() < 0.3:
        landsat = landsat + rng.normal(0, rng.uniform(0.0005, 0.003), landsat.shape).astype(
            np.float32
        )
    if (
        augment and rng.random() < 0.25
    ):  # Landsat cloud holes: the network must gap-fill from the guide
        holes = smooth_noise(rng, landsat.shape[1:], rng.uniform(1.5, 4)) > rng.uniform(0.3, 1.5)
        landsat[:, holes] = np.nan
    return (
        np.ascontiguousarray(landsat, np.float32),
        np.ascontiguousarray(guide, np.float32),
        dt,
        np.ascontiguousarray(target, np.float32),
    )


def _other_view(
    scene: SceneStack,
    t1: int,
    y0: int,
    x0: int,
    patch: tuple[int, int],
    rng: np.random.Generator,
    *,
    far: bool,
) -> tuple[np.ndarray, float]:
    """Another acquisition of the crop: a real other date if the scene has a fitting one,
    else the target re-observed (jitter), with local changes when ``far``."""
    gaps = np.abs(scene.days - scene.days[t1])
    candidates = np.flatnonzero((gaps > 0) & ((gaps > 20) if far else (gaps <= 20)))
    # Misregistration: Sentinel-2 vs Landsat is under 6 m with GRI, over 12 m without.
    sy, sx = np.clip(rng.normal(0, 0.3, 2), -1, 1)
    if candidates.size:
        t2 = int(rng.choice(candidates))
        guide, dt = _shifted(scene.truth[t2], y0, x0, patch, sy, sx), float(gaps[t2])
    else:
        guide = _shifted(scene.truth[t1], y0, x0, patch, sy, sx)
        dt = float(rng.uniform(25, 300) if far else rng.uniform(0, 16))
        if far:
            guide = _local_changes(guide, scene, rng)
            guide = guide * rng.uniform(0.88, 1.12, (6, 1, 1)).astype(np.float32)
    gain = rng.normal(1, 0.03 if not far else 0.06, (6, 1, 1)).astype(np.float32)
    guide = guide * gain + rng.normal(0, 0.003, (6, 1, 1)).astype(np.float32)
    guide = guide + rng.normal(0, 0.002, guide.shape).astype(np.float32)
    return guide.astype(np.float32), dt


def _shifted(
    img: np.ndarray, y0: int, x0: int, patch: tuple[int, int], sy: float, sx: float
) -> np.ndarray:
    """Crop at a sub-pixel offset (bilinear); the scene has ≥ 1 px margin around the crop."""
    iy, ix = int(np.floor(sy)), int(np.floor(sx))
    fy, fx = sy - iy, sx - ix
    a = img[:, y0 + iy : y0 + iy + patch[0] + 1, x0 + ix : x0 + ix + patch[1] + 1]
    top = a[:, :-1, :-1] * (1 - fx) + a[:, :-1, 1:] * fx
    bot = a[:, 1:, :-1] * (1 - fx) + a[:, 1:, 1:] * fx
    return np.asarray(top * (1 - fy) + bot * fy, np.float32)


def _local_changes(img: np.ndarray, scene: SceneStack, rng: np.random.Generator) -> np.ndarray:
    """New clearings, regrowth, or content pasted from elsewhere, in random blobs."""
    out = img.copy()
    _, hh, ww = out.shape
    field = smooth_noise(rng, (hh, ww), rng.uniform(2, 6))
    for _ in range(int(rng.integers(1, 4))):
        blob = np.roll(field, (int(rng.integers(hh)), int(rng.integers(ww))), (0, 1)) > rng.uniform(
            1.2, 2.2
        )
        kind = rng.random()
        if kind < 0.4:
            spec = np.asarray(SPECTRA["bare"], np.float32) * rng.uniform(0.8, 1.2)
            out[:, blob] = spec[:, None] * rng.uniform(0.9, 1.1, blob.sum()).astype(np.float32)
        elif kind < 0.6:
            out[:, blob] = np.asarray(SPECTRA["regrowth"], np.float32)[:, None]
        else:
            _, _, sh, sw = scene.truth.shape
            py, px = int(rng.integers(sh - hh + 1)), int(rng.integers(sw - ww + 1))
            src = scene.truth[int(rng.integers(len(scene.days))), :, py : py + hh, px : px + ww]
            out[:, blob] = src[:, blob]
    return out


def _haze(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Unflagged haze: a smooth additive path radiance, strongest in blue."""
    field = np.clip(0.5 + 0.35 * smooth_noise(rng, img.shape[1:], rng.uniform(8, 30)), 0, 1)
    a = (amount * field)[None].astype(np.float32)
    return np.asarray(img * (1 - 0.5 * a) + a * HAZE[:, None, None], np.float32)


def _clouds(
    img: np.ndarray, rng: np.random.Generator, *, flag: bool, only_mask: bool = False
) -> np.ndarray:
    """Clouds and shadows; flagged cores become NaN, thin edges and penumbrae stay."""
    n = smooth_noise(rng, img.shape[1:], rng.uniform(3, 10))
    opacity = np.clip((n - rng.uniform(0.2, 1.4)) * 2.0, 0, 1)
    out = img.copy()
    if not only_mask:
        shadow = np.roll(opacity, (int(rng.integers(-8, 9)), int(rng.integers(-8, 9))), (0, 1))
        out = out * (1 - 0.6 * shadow)[None]
        out = out * (1 - opacity)[None] + (
            opacity[None] * CLOUD[:, None, None] * rng.uniform(0.7, 1.2)
        )
    if flag or only_mask:
        out[:, opacity > (0.05 if only_mask else 0.6)] = np.nan
    return out.astype(np.float32)
