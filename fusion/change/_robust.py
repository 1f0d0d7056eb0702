"""Small NaN-aware robust statistics shared by the reference and the monitor (numpy only)."""

from __future__ import annotations

import numpy as np

# Consistency constant of the MAD for a Gaussian: sigma = 1.4826 · MAD (Rousseeuw & Croux 1993).
MAD_TO_SIGMA = np.float32(1.4826)


def nanmedian(a: np.ndarray) -> np.ndarray:
    """Median along the last axis ignoring NaN, float32; NaN where all are NaN.

    Sort-based: ``np.nanmedian`` over a short last axis goes through masked arrays and is ~10×
    slower, and it warns on all-NaN slices (``warnings`` filters are not thread-safe under dask).
    """
    s = np.sort(a, axis=-1)  # NaN sorts last
    n = (~np.isnan(a)).sum(-1)[..., None]
    lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0), axis=-1)[..., 0]
    hi = np.take_along_axis(s, np.maximum(n // 2, 0), axis=-1)[..., 0]
    hi = np.where(n[..., 0] > 0, hi, np.nan)
    return ((lo + hi) / 2).astype(np.float32)


def weighted_nanmedian(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted median along the last axis, ignoring NaN values; also the total weight.

    The median is the first sorted value whose cumulative weight reaches half the total (the
    mean of it and the next one when exactly half is reached, as the plain median does for an
    even count). NaN where the total weight is zero.
    """
    w = np.where(np.isfinite(values), weights, 0).astype(np.float64)
    order = np.argsort(values, axis=-1)  # NaN sorts last, with weight 0
    vs = np.take_along_axis(values, order, axis=-1)
    ws = np.take_along_axis(w, order, axis=-1)
    cw = np.cumsum(ws, axis=-1)
    total = cw[..., -1]
    half = total / 2
    idx = np.argmax(cw >= half[..., None], axis=-1)[..., None]
    med = np.take_along_axis(vs, idx, axis=-1)[..., 0]
    nxt = np.take_along_axis(vs, np.minimum(idx + 1, vs.shape[-1] - 1), axis=-1)[..., 0]
    exact = (np.take_along_axis(cw, idx, axis=-1)[..., 0] == half) & np.isfinite(nxt)
    med = np.where(exact, (med + nxt) / 2, med)
    return np.where(total > 0, med, np.nan).astype(np.float32), total
