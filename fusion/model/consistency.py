"""Consistency with Landsat by construction: ``y = x̂ + U(L − D(x̂))``.

D is the 3×3 block mean (10 m → 30 m) and U the 3×3 replication (30 m → 10 m). Because
``D(U(v)) = v``, the block mean of ``y`` is exactly ``L`` for any prediction ``x̂``: the
back-projection step of Explorable Super-Resolution (Bahat & Michaeli, CVPR 2020, §3). The
network may only infer sub-pixel detail; it can never contradict what Landsat measured.

Where a Landsat pixel is invalid (NaN) nothing is enforced there: the prediction is kept, so a
cloud in Landsat does not poison its neighbours. The mask is per band.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

SCALE: Final = 3
"""Landsat pixel / output pixel: 30 m / 10 m (or 90 m / 30 m in reduced-scale tests)."""


def block_mean(x: torch.Tensor) -> torch.Tensor:
    """D: mean of each 3×3 block, ``(N, C, 3h, 3w) → (N, C, h, w)``."""
    return F.avg_pool2d(x, SCALE)


def replicate(x: torch.Tensor) -> torch.Tensor:
    """U: repeat each pixel 3×3, ``(N, C, h, w) → (N, C, 3h, 3w)``."""
    return x.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)


def enforce_consistency(pred: torch.Tensor, landsat: torch.Tensor) -> torch.Tensor:
    """Back-project the block-mean residual so ``D(result) == landsat`` where it is finite.

    ``pred``: ``(N, C, 3h, 3w)``, finite. ``landsat``: ``(N, C, h, w)``, NaN where invalid; there
    the prediction is returned unchanged (no NaN leaks into it).
    """
    valid = torch.isfinite(landsat)
    residual = torch.where(valid, landsat - block_mean(pred), torch.zeros_like(landsat))
    return pred + replicate(residual)


def block_mean_np(x: np.ndarray) -> np.ndarray:
    """D for numpy ``(..., 3h, 3w)`` arrays (NaN propagates within a block); used by checks."""
    *lead, hh, ww = x.shape
    if hh % SCALE or ww % SCALE:
        raise ValueError(f"shape {x.shape} is not a multiple of {SCALE}")
    blocks = x.reshape(*lead, hh // SCALE, SCALE, ww // SCALE, SCALE)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(np.float32)


def consistency_error(output: np.ndarray, landsat: np.ndarray) -> float:
    """Max |D(output) − landsat| over valid Landsat pixels (0.0 when none is valid)."""
    diff = np.abs(block_mean_np(output) - landsat)
    diff = diff[np.isfinite(landsat)]
    return float(diff.max()) if diff.size else 0.0
