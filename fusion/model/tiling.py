"""Tiled inference: numpy arrays in memory, dask arrays block by block with a halo.

Both paths run the same function on windows that carry a halo of at least the receptive field
(:attr:`FusionNet.halo_30m` Landsat pixels, ×3 at 10 m) and keep only the window's core, so the
result does not depend on the window or chunk size (up to float rounding; tested). Windows and
chunks are cut on Landsat pixels, i.e. on multiples of 3 output pixels, so every 3×3 block is
whole and the consistency step sees it entire. At the array edges there is no halo on the
outer side in either path: the network pads there the same way for every chunking.

Torch threads are the caller's choice (``torch.set_num_threads``): with a multi-threaded dask
scheduler give torch 1 thread per dask thread to avoid oversubscription.
"""

from __future__ import annotations

from typing import Any, Final

import dask.array as da
import numpy as np
import torch
from dask.delayed import Delayed

from fusion.model.consistency import SCALE
from fusion.model.network import N_BANDS, Readout
from fusion.model.weights import load_model

WINDOW_30M: Final = 256
"""Core window of in-memory inference, Landsat pixels: bounds peak memory (~0.5 GB at 48 ch)."""
N_OUT: Final = 2 * N_BANDS + 1
"""Output channels: 6 reflectance, 6 sigma, 1 observed (0/1)."""


def predict_numpy(
    landsat: np.ndarray,
    guide: np.ndarray | None,
    dt_days: float | np.ndarray | None,
    *,
    weights: str,
    window: int = WINDOW_30M,
    readout: Readout | None = None,
) -> np.ndarray:
    """Run the network over ``landsat`` (6, h, w) in windows; returns (13, 3h, 3w) float32.

    ``guide`` is (6, 3h, 3w) or None; ``dt_days`` a scalar, None, or (3h, 3w) array.
    """
    model = load_model(weights)
    halo = model.halo_30m
    _, h, w = landsat.shape
    out = np.empty((N_OUT, SCALE * h, SCALE * w), dtype=np.float32)
    for y0 in range(0, h, window):
        for x0 in range(0, w, window):
            y1, x1 = min(y0 + window, h), min(x0 + window, w)
            ya, xa = max(y0 - halo, 0), max(x0 - halo, 0)
            yb, xb = min(y1 + halo, h), min(x1 + halo, w)
            res = _run(
                model,
                landsat[:, ya:yb, xa:xb],
                None
                if guide is None
                else guide[:, SCALE * ya : SCALE * yb, SCALE * xa : SCALE * xb],
                dt_days
                if not isinstance(dt_days, np.ndarray)
                else dt_days[SCALE * ya : SCALE * yb, SCALE * xa : SCALE * xb],
                readout,
            )
            oy, ox = SCALE * (y0 - ya), SCALE * (x0 - xa)
            out[:, SCALE * y0 : SCALE * y1, SCALE * x0 : SCALE * x1] = res[
                :, oy : oy + SCALE * (y1 - y0), ox : ox + SCALE * (x1 - x0)
            ]
    return out


def _run(
    model: Any,
    landsat: np.ndarray,
    guide: np.ndarray | None,
    dt_days: float | np.ndarray | None,
    readout: Readout | None = None,
) -> np.ndarray:
    lt = torch.from_numpy(np.ascontiguousarray(landsat, dtype=np.float32))[None]
    gt = (
        None
        if guide is None
        else torch.from_numpy(np.ascontiguousarray(guide, dtype=np.float32))[None]
    )
    dt: torch.Tensor | float | None
    if isinstance(dt_days, np.ndarray):
        dt = torch.from_numpy(np.ascontiguousarray(dt_days, dtype=np.float32))[None, None]
    else:
        dt = dt_days
    with torch.inference_mode():
        res = model(lt, gt, dt, readout)
    stacked = torch.cat([res.reflectance, res.sigma, res.observed.to(res.sigma.dtype)], dim=1)
    return stacked[0].numpy()


def predict_dask(
    landsat: da.Array,
    guide: da.Array | None,
    dt_days: float | da.Array | None,
    *,
    weights: str,
    readout: Readout | Delayed | None = None,
) -> da.Array:
    """Lazy version of :func:`predict_numpy`; chunks of the result are 3× those of ``landsat``.

    ``guide`` (6, 3h, 3w) and an array ``dt_days`` (3h, 3w) are rechunked to match; ``readout``
    (:mod:`fusion.model.adapt`) may be a ``dask.delayed`` one.
    """
    halo = load_model(weights).halo_30m
    landsat = min_chunks(landsat.rechunk({0: -1}), halo)
    ychunks, xchunks = landsat.chunks[1], landsat.chunks[2]
    chunks10 = (tuple(SCALE * c for c in ychunks), tuple(SCALE * c for c in xchunks))
    arrays: list[da.Array] = [_with_halo(landsat, {0: 0, 1: halo, 2: halo})]
    if guide is not None:
        guide = guide.rechunk(((N_BANDS,), *chunks10))
        arrays.append(_with_halo(guide, {0: 0, 1: SCALE * halo, 2: SCALE * halo}))
    dt_scalar: float | None = None
    if isinstance(dt_days, da.Array):
        dt_arr = dt_days.rechunk(chunks10)
        arrays.append(_with_halo(dt_arr, {0: SCALE * halo, 1: SCALE * halo}))
    else:
        dt_scalar = dt_days
    return da.map_blocks(
        _block,
        *arrays,
        dtype=np.float32,
        chunks=((N_OUT,), *chunks10),
        meta=np.empty((0, 0, 0), dtype=np.float32),
        halo=halo,
        has_guide=guide is not None,
        dt_scalar=dt_scalar,
        weights=weights,
        readout=readout,
    )


def _block(
    *arrays: np.ndarray,
    halo: int,
    has_guide: bool,
    dt_scalar: float | None,
    weights: str,
    readout: Readout | None = None,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    landsat = arrays[0]
    guide = arrays[1] if has_guide else None
    dt: float | np.ndarray | None = arrays[-1] if len(arrays) > 1 + has_guide else dt_scalar
    assert block_info is not None
    loc, nchunks = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
    # boundary="none": no halo on the outer side of edge chunks.
    top = halo if loc[1] > 0 else 0
    bottom = halo if loc[1] < nchunks[1] - 1 else 0
    left = halo if loc[2] > 0 else 0
    right = halo if loc[2] < nchunks[2] - 1 else 0
    res = predict_numpy(landsat, guide, dt, weights=weights, readout=readout)
    h, w = landsat.shape[1:]
    return res[:, SCALE * top : SCALE * (h - bottom), SCALE * left : SCALE * (w - right)]


def _with_halo(arr: da.Array, depth: dict[int, int]) -> da.Array:
    """``arr`` with a halo of ``depth`` around each chunk (none at the array edges).

    A tile held in one spatial chunk has no neighbours to borrow from: the halo would add
    nothing but graph tasks, so the array is returned as it is.
    """
    if all(len(arr.chunks[axis]) == 1 for axis, d in depth.items() if d):
        return arr
    return da.overlap.overlap(arr, depth, boundary="none")


def min_chunks(arr: da.Array, size: int) -> da.Array:
    """Merge chunks smaller than the halo into their neighbour (dask's overlap needs it)."""
    new: list[tuple[int, ...]] = [arr.chunks[0]]
    for chunks in arr.chunks[1:]:
        merged: list[int] = []
        for c in chunks:
            if merged and (c < size or merged[-1] < size):
                merged[-1] += c
            else:
                merged.append(c)
        new.append(tuple(merged))
    return arr.rechunk(tuple(new))
