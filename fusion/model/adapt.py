"""Per-scene adaptation: register the guide to Landsat, then refit the network's readout.

Two things the trained network cannot know about one scene, both measured on the scene itself:

* **Misregistration.** Sentinel-2 and Landsat disagree by a few metres (DESIGN.md "Grids"); at
  10 m a shift of a third of a pixel already puts the guide's edges beside the true ones. The
  shift of the whole guide relative to Landsat is measured by phase correlation on the NIR band
  at the Landsat pixel size (:func:`fusion.ingest.shift.phase_shift`) and undone with a local
  cubic-convolution resampler (Keys 1981), so that dask chunks with a small halo reproduce it.
  Shifts over :data:`MAX_SHIFT` Landsat pixels are not undone: those are gross errors that a
  sub-pixel correction would hide, not fix.
* **How much of the guide's detail to inject.** The network's last step is linear:
  ``base + w·r + a ⊙ M·detail`` (:class:`fusion.model.network.Parts`). Its weights ``w`` and
  ``M`` are refitted per scene by ridge regression at the coarser scale, where the truth is
  known: the scene's own Landsat is the target, its 3×3 block mean the input and the guide's
  block mean the guide (Wald protocol; target-adaptive fusion after Scarpa et al. 2018, IEEE
  TGRS 56(9), who fine-tune a pansharpening CNN on each image at reduced scale — here only
  the linear readout, so the fit is closed-form and cheap). The ridge pulls towards the learnt
  weights, so a small or cloudy scene keeps the trained readout.

Both are fitted, and applied, only where the guide is valid: where it is not, the network's
residual is all there is, and the learnt readout stays. Sigma is calibrated for the learnt
readout; where Landsat is observed and the guide valid it is scaled by the ratio of the
refitted readout's coarse-scale RMSE to the learnt one's (never above 1).
"""

from __future__ import annotations

import math
from typing import Final

import dask.array as da
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from dask.delayed import Delayed, delayed
from scipy.ndimage import correlate1d

from fusion.ingest.shift import phase_shift
from fusion.model.consistency import SCALE, block_mean_np, replicate
from fusion.model.consistency import block_mean as block_mean_t
from fusion.model.network import N_BANDS, FusionNet, Readout
from fusion.model.tiling import min_chunks
from fusion.model.weights import load_model

SHIFT_BAND: Final = 3
"""nir08: the band with the most texture over vegetation and the least haze."""
MAX_SHIFT: Final = 1.0
"""Largest shift undone, Landsat pixels (30 m); :func:`shift_depth` follows from it."""
MIN_PIXELS: Final = 1000
"""Coarse-scale pixels a scene needs for either estimate; fewer keep the learnt behaviour."""
RIDGE: Final = 1e-2
"""Ridge weight per pixel, towards the learnt readout (normalised units)."""
WINDOW: Final = 96
"""Coarse-scale window for the readout fit, Landsat-of-Landsat pixels: bounds memory."""
FIT_ROWS: Final = 2**18
"""Guided Landsat pixels per band after which the readout fit stops taking more windows:
~4800 per unknown, far more than 55 unknowns need, and it bounds the fit's cost on large
scenes (windows are taken in an order that spreads them over the scene)."""


def estimate_shift(landsat: np.ndarray, guide_block: np.ndarray) -> tuple[float, float]:
    """Displacement (rows, cols) of the guide's content relative to Landsat, in Landsat pixels.

    ``landsat`` and ``guide_block`` (the guide's 3×3 block mean) are ``(6, h, w)``. Returns
    (0, 0) when fewer than :data:`MIN_PIXELS` pixels are valid in both, or when the shift
    exceeds :data:`MAX_SHIFT`.
    """
    ref, mov = landsat[SHIFT_BAND], guide_block[SHIFT_BAND]
    if int((np.isfinite(ref) & np.isfinite(mov)).sum()) < MIN_PIXELS:
        return 0.0, 0.0
    drow, dcol, _, _ = phase_shift(ref.astype(np.float32), mov.astype(np.float32))
    if not (math.isfinite(drow) and math.isfinite(dcol)) or max(abs(drow), abs(dcol)) > MAX_SHIFT:
        return 0.0, 0.0
    return drow, dcol


def shift_depth() -> int:
    """Halo (fine pixels) that :func:`shift_image` needs for any accepted shift."""
    return math.ceil(MAX_SHIFT * SCALE) + 2


def _keys(t: np.ndarray) -> np.ndarray:
    """Keys (1981) cubic-convolution kernel, a = −0.5."""
    t = np.abs(t)
    return np.where(
        t <= 1,
        1.5 * t**3 - 2.5 * t**2 + 1,
        np.where(t < 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, 0.0),
    )


def _shift_axis(x: np.ndarray, s: float, axis: int) -> np.ndarray:
    """Move the content of ``x`` by ``s`` pixels along ``axis`` (edge values extend)."""
    if s == 0:
        return x
    base = math.floor(-s)  # output i samples input i − s = i + base + frac
    frac = -s - base
    taps = range(-1, 3)
    weights = _keys(np.asarray([frac - k for k in taps], dtype=np.float64))
    # One centred kernel holding the four taps at their offsets, so that scipy's C loop does
    # the work; mode="nearest" is the edge extension that map_overlap's boundary reproduces.
    margin = 2 + abs(base)
    kernel = np.zeros(2 * margin + 1, dtype=x.dtype)
    for k, wk in zip(taps, weights, strict=True):
        kernel[margin + base + k] = wk
    return correlate1d(x, kernel, axis=axis, mode="nearest")


def shift_image(guide: np.ndarray, drow: float, dcol: float) -> np.ndarray:
    """Move ``guide`` ``(6, H, W)`` by (drow, dcol) fine pixels, NaN-aware.

    Normalised convolution (Knutsson & Westin 1993): invalid taps get no weight and the valid
    ones are renormalised; a pixel stays valid where its valid taps carry more than half the
    kernel's weight, so a mask moves with the content instead of growing by the kernel's width.
    """
    if drow == 0 and dcol == 0:
        return guide
    valid = np.isfinite(guide)

    def move(x: np.ndarray) -> np.ndarray:
        return _shift_axis(_shift_axis(x, drow, 1), dcol, 2)

    num = move(np.where(valid, guide, 0).astype(np.float32))
    den = move(valid.astype(np.float32))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0.5, num / den, np.nan).astype(np.float32)


def fit_readout(
    model: FusionNet,
    landsat: np.ndarray,
    guide_block: np.ndarray,
    dt_block: float | np.ndarray | None,
) -> Readout | None:
    """Refit the readout on the scene at the coarser scale; None when it cannot be fitted.

    ``landsat`` ``(6, h, w)``; ``guide_block`` the registered guide's 3×3 block mean on the
    Landsat grid; ``dt_block`` a scalar or the time-gap array's block mean ``(h, w)``.
    """
    h, w = (landsat.shape[1] // SCALE) * SCALE, (landsat.shape[2] // SCALE) * SCALE
    target = landsat[:, :h, :w].astype(np.float32)
    coarse = block_mean_np(target)  # NaN where any of the 9 is invalid
    gblock = guide_block[:, :h, :w].astype(np.float32)
    dt = dt_block[:h, :w] if isinstance(dt_block, np.ndarray) else dt_block
    if not np.isfinite(gblock).all(0).any():
        return None
    learnt = model.learnt_readout()
    k = learnt.mix.shape[-1]
    n_feat = 1 + N_BANDS * k * k
    prior = torch.cat([torch.ones(N_BANDS, 1), learnt.mix.reshape(N_BANDS, -1)], 1).double()
    xtx = torch.zeros(N_BANDS, n_feat, n_feat, dtype=torch.float64)
    xty = torch.zeros(N_BANDS, n_feat, dtype=torch.float64)
    yty = torch.zeros(N_BANDS, dtype=torch.float64)
    count = torch.zeros(N_BANDS, dtype=torch.float64)
    halo = model.halo_30m
    ch, cw = coarse.shape[1:]
    mean, std = model.band_mean.view(N_BANDS, 1, 1), model.band_std.view(N_BANDS, 1, 1)
    for y0, x0 in _spread(range(0, ch, WINDOW), range(0, cw, WINDOW)):
        if float(count.min()) >= FIT_ROWS:
            break
        y1, x1 = min(y0 + WINDOW, ch), min(x0 + WINDOW, cw)
        ya, xa = max(y0 - halo, 0), max(x0 - halo, 0)
        yb, xb = min(y1 + halo, ch), min(x1 + halo, cw)
        fine = (slice(SCALE * ya, SCALE * yb), slice(SCALE * xa, SCALE * xb))
        lc = torch.from_numpy(np.ascontiguousarray(coarse[:, ya:yb, xa:xb]))[None]
        gc = torch.from_numpy(np.ascontiguousarray(gblock[:, fine[0], fine[1]]))[None]
        dtt: torch.Tensor | float | None = (
            torch.from_numpy(np.ascontiguousarray(dt[fine[0], fine[1]], np.float32))[None, None]
            if isinstance(dt, np.ndarray)
            else dt
        )
        with torch.inference_mode():
            p = model.parts(lc, gc, dtt)
        core = (
            slice(SCALE * (y0 - ya), SCALE * (y1 - ya)),
            slice(SCALE * (x0 - xa), SCALE * (x1 - xa)),
        )
        t = (
            torch.from_numpy(target[:, SCALE * y0 : SCALE * y1, SCALE * x0 : SCALE * x1]) - mean
        ) / std
        lcn = (lc[0, :, y0 - ya : y1 - ya, x0 - xa : x1 - xa] - mean) / std
        y = t - _q(p.base[0, :, core[0], core[1]]) - replicate(lcn)
        taps = torch.stack(_taps(p.detail[0], k))[:, core[0], core[1]]  # (6·k·k, H, W)
        # Fit where the guide is valid: elsewhere the learnt readout stays (see read()).
        guided = p.guide_valid_b[0, :, core[0], core[1]].all(0).reshape(-1)
        for b in range(N_BANDS):
            # Features (n_feat, H·W): the residual, then the gain times each tap. A band at
            # a time bounds memory to one (n_feat, 3·WINDOW, 3·WINDOW) stack.
            gain = p.gain[0, b, core[0], core[1]]
            x = torch.cat([p.resid[0, b, None, core[0], core[1]], gain * taps])
            x = _q(x).reshape(n_feat, -1)
            yb_ = y[b].reshape(-1)
            ok = torch.isfinite(yb_) & torch.isfinite(x).all(0) & guided
            # Zeroed rows add nothing to the normal equations. Products in float32 per
            # window (≤ 9·WINDOW² rows), summed across windows in float64.
            x = torch.where(ok, x, 0.0)
            yb_ = torch.where(ok, yb_, 0.0)
            xtx[b] += (x @ x.T).double()
            xty[b] += (x @ yb_).double()
            yty[b] += (yb_.double() ** 2).sum()
            count[b] += float(ok.sum())
    if float(count.min()) < MIN_PIXELS * SCALE * SCALE:
        return None
    eye = torch.eye(n_feat, dtype=torch.float64)
    coef = torch.stack(
        [
            torch.linalg.solve(
                xtx[b] + RIDGE * count[b] * eye, xty[b] + RIDGE * count[b] * prior[b]
            )
            for b in range(N_BANDS)
        ]
    )

    def mse(c: torch.Tensor) -> torch.Tensor:  # mean squared error of readout c, per band
        return (yty - 2 * (c * xty).sum(1) + torch.einsum("bi,bij,bj->b", c, xtx, c)) / count

    scale = torch.sqrt(mse(coef).clamp_min(0) / mse(prior).clamp_min(1e-30)).clamp(max=1.0)
    return Readout(
        coef[:, 0].float(),
        coef[:, 1:].float().reshape(N_BANDS, N_BANDS, k, k),
        scale.float(),
    )


def _spread(ys: range, xs: range) -> list[tuple[int, int]]:
    """All (y, x) window origins, ordered so that any prefix is spread over the scene: by the
    bit-reversed Morton (Z-order) index, so every other window in both axes comes first, then
    the ones between them, and so on."""
    bits = max(len(ys) - 1, len(xs) - 1, 1).bit_length()

    def key(i: int, j: int) -> int:
        morton = 0
        for bit in range(bits):
            morton |= ((i >> bit) & 1) << (2 * bit + 1) | ((j >> bit) & 1) << (2 * bit)
        return int(format(morton, f"0{2 * bits}b")[::-1], 2)

    cells = sorted((key(i, j), y, x) for i, y in enumerate(ys) for j, x in enumerate(xs))
    return [(y, x) for _, y, x in cells]


def _q(x: torch.Tensor) -> torch.Tensor:
    """``x − U(D(x))``: the part of a prediction that back-projection leaves in place."""
    flat = x.reshape(-1, 1, *x.shape[-2:])
    return (flat - replicate(block_mean_t(flat))).reshape(x.shape)


def _taps(detail: torch.Tensor, k: int) -> list[torch.Tensor]:
    """The ``6·k·k`` shifted copies of ``detail`` ``(6, H, W)`` that ``conv2d`` with a ``k×k``
    kernel and zero padding combines, in weight order ``(in_band, dy, dx)``."""
    p = k // 2
    pad = F.pad(detail[None], (p, p, p, p))[0]
    h, w = detail.shape[-2:]
    return [
        pad[j, dy : dy + h, dx : dx + w]
        for j in range(N_BANDS)
        for dy in range(k)
        for dx in range(k)
    ]


def guide_block(guide: np.ndarray) -> np.ndarray:
    """The guide's 3×3 block mean per band, NaN unless all 9 pixels are valid."""
    return block_mean_np(guide)


def adapt_numpy(
    landsat: np.ndarray, guide: np.ndarray, dt_days: float | np.ndarray | None, *, weights: str
) -> tuple[np.ndarray, Readout | None, tuple[float, float]]:
    """Register ``guide`` to ``landsat`` and fit the readout: the eager path of ``fuse``.

    Returns the registered guide, the fitted readout (None: the learnt one stays) and the
    shift undone, (rows, cols) in Landsat pixels.
    """
    block = guide_block(guide)
    drow, dcol = estimate_shift(landsat, block)
    moved = shift_image(guide, -SCALE * drow, -SCALE * dcol)
    moved_block = block if moved is guide else guide_block(moved)
    return moved, _fit(landsat, moved_block, _dt_block(dt_days), weights), (drow, dcol)


def adapt_dask(
    landsat: da.Array,
    guide: da.Array,
    dt_days: float | da.Array | None,
    *,
    weights: str,
) -> tuple[da.Array, Delayed, Delayed]:
    """Lazy :func:`adapt_numpy`: both estimates see the whole scene, so no chunking changes
    them; the shift is undone chunk by chunk with a halo of :func:`shift_depth`.

    Returns the registered guide, chunked 3× ``landsat``, the delayed readout and the delayed
    shift.
    """
    landsat = min_chunks(landsat.rechunk({0: -1}), 2)  # ≥ 6 fine pixels ≥ the shift's halo
    fine = tuple(tuple(SCALE * c for c in cs) for cs in landsat.chunks[1:])
    guide = guide.rechunk(((N_BANDS,), *fine))
    if isinstance(dt_days, da.Array):
        dt_days = dt_days.rechunk(fine)
    block = da.map_blocks(
        guide_block,
        guide,
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        chunks=(guide.chunks[0], *(tuple(c // SCALE for c in cs) for cs in guide.chunks[1:])),
    )
    shift = delayed(estimate_shift, pure=True)(_whole(landsat), _whole(block))
    depth = shift_depth()
    moved = guide.map_overlap(
        _shift_chunk,
        depth={0: 0, 1: depth, 2: depth},
        boundary="nearest",
        shift=shift,
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
    )
    mblock = da.map_blocks(
        guide_block, moved, dtype=np.float32, meta=block._meta, chunks=block.chunks
    )
    dtb = (
        da.map_blocks(
            _dt_block,
            dt_days,
            dtype=np.float32,
            meta=np.empty((0, 0), np.float32),
            chunks=block.chunks[1:],
        )
        if isinstance(dt_days, da.Array)
        else dt_days
    )
    dtw = _whole(dtb) if isinstance(dtb, da.Array) else dtb
    readout = delayed(_fit, pure=True)(_whole(landsat), _whole(mblock), dtw, weights)
    return moved, readout, shift


ESTIMATES: Final = (
    "guide_shift_row",
    "guide_shift_col",
    *(f"sigma_scale_{b}" for b in range(N_BANDS)),
)
"""What :func:`estimates` holds: the shift undone (Landsat pixels) and the refitted readout's
sigma scale per band (NaN: the learnt readout was kept)."""


def estimates(shift: tuple[float, float], readout: Readout | None) -> np.ndarray:
    """One scene's adaptation as a float64 vector in :data:`ESTIMATES` order."""
    scale = np.full(N_BANDS, np.nan) if readout is None else readout.sigma_scale.double().numpy()
    return np.concatenate([np.asarray(shift, np.float64), scale])


def _whole(arr: da.Array) -> Delayed:
    """The whole of ``arr`` as one numpy array, from its chunks under their own keys.

    Not ``delayed(f)(arr)``: that finalises ``arr`` through its optimised graph, whose tasks
    are renamed, so everything upstream (scene reads, the guide composite) ran twice.
    """
    return delayed(np.block, pure=True)(arr.to_delayed(optimize_graph=False).tolist())


def _shift_chunk(chunk: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    return shift_image(chunk, -SCALE * shift[0], -SCALE * shift[1])


def _dt_block(dt_days: float | np.ndarray | None) -> float | np.ndarray | None:
    return block_mean_np(dt_days[None])[0] if isinstance(dt_days, np.ndarray) else dt_days


def _fit(
    landsat: np.ndarray,
    guide_blk: np.ndarray,
    dt_blk: float | np.ndarray | None,
    weights: str,
) -> Readout | None:
    return fit_readout(load_model(weights), landsat, guide_blk, dt_blk)
