"""Incremental monitor state: start it once, then append new acquisitions.

A state is an :class:`xarray.Dataset` holding the history statistics, the forest baseline
(for the self-reference of later dates) and the per-pixel monitor state (ring buffer of the
last scores, confirmed alert, counts); its attrs hold ``monitor_start``, ``last_time`` (the
newest acquisition processed), the parameters and the self-reference switch.

``update(start(series[:k]), series[k:])`` equals ``start(series)`` exactly, for any ``k``:
the history is fixed at start, the self-reference of a date only depends on that date and the
stored forest baseline, and the monitor processes one acquisition at a time. Persistence is
in :mod:`fusion.change.store`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from fusion.change._inputs import check_history, check_index, check_like, check_mask, parse_time
from fusion.change.monitor import advance, history_state, params_of
from fusion.change.params import MonitorParams
from fusion.change.reference import forest_baseline, history_median
from fusion.change.reference import self_reference as rnbr
from fusion.errors import MonitorStateError

#: Bumped whenever the state layout changes; older states must be restarted.
STATE_VERSION = 2


def start(
    index: xr.DataArray,
    *,
    monitor_start: Any,
    self_reference: bool = True,
    sigma: xr.DataArray | None = None,
    forest_mask: xr.DataArray | None = None,
    require_monitoring: bool = False,
    **params: Any,
) -> xr.Dataset:
    """Start a monitor state from a series holding the history (and maybe monitoring dates).

    Arguments as :func:`fusion.detect`. Lazy: dask in, dask out. The history (acquisitions
    before ``monitor_start``) is fixed here; later :func:`update` calls only add acquisitions.
    """
    p = MonitorParams.from_kwargs(params)
    index = check_index(index)
    t0 = parse_time(monitor_start)
    check_history(index, t0, min_history=p.min_history, require_monitoring=require_monitoring)
    if sigma is not None:
        sigma = check_like(sigma, index, "sigma")
    median, count = history_median(index, monitor_start=t0)
    if forest_mask is not None:
        forest = check_mask(forest_mask, index)
    else:
        forest = forest_baseline(median, count, params=p)
    if self_reference:
        index = rnbr(index, forest, params=p, baseline=median)
    is_hist = index["time"].values < t0
    state = history_state(
        index.isel(time=np.flatnonzero(is_hist)),
        gate=forest if p.forest_only else None,
        params=p,
    )
    state["forest"] = forest
    state["history_median"] = median
    last_hist = index["time"].values[is_hist][-1]
    # Late history acquisitions cannot be added later: updates start after monitor_start.
    state.attrs = {
        "state_version": STATE_VERSION,
        "monitor_start": str(t0),
        "last_time": str(max(last_hist, t0 - np.timedelta64(1, "ns"))),
        "params": json.dumps(p.to_dict()),
        "self_reference": int(self_reference),
    }
    mon = np.flatnonzero(~is_hist)
    return advance(state, index.isel(time=mon), None if sigma is None else sigma.isel(time=mon))


def update(
    state: xr.Dataset, index: xr.DataArray, *, sigma: xr.DataArray | None = None
) -> xr.Dataset:
    """Append the acquisitions of ``index`` newer than the state's ``last_time``.

    Older or equal acquisitions are ignored, so re-running with the same input is a no-op
    (the returned state is ``state`` itself). Lazy: dask in, dask out.

    Raises:
        MonitorStateError: the state is from another format version or another grid.
        MonitorInputError: ``index`` or ``sigma`` are malformed.
    """
    version = state.attrs.get("state_version")
    if version != STATE_VERSION:
        raise MonitorStateError(
            f"monitor state has format version {version!r}, this fusion writes "
            f"{STATE_VERSION}: start a new state from the full series"
        )
    index = check_index(index)
    if sigma is not None:
        sigma = check_like(sigma, index, "sigma")
    for dim in ("y", "x"):
        if not np.array_equal(index[dim].values, state[dim].values):
            raise MonitorStateError(
                f"new observations are on another grid than the monitor state ({dim} "
                "coordinates differ): load them on the tile grid the state was started on"
            )
    last = np.datetime64(state.attrs["last_time"], "ns")
    new = np.flatnonzero(index["time"].values > last)
    if new.size == 0:
        return state
    if new.size < index.sizes["time"]:
        # Only when needed: a caller passing just new dates gets the monitor's graph keyed on
        # its own arrays (fusion.pipeline scores the same arrays and dask computes them once).
        index = index.isel(time=new)
        sigma = None if sigma is None else sigma.isel(time=new)
    return advance(state, monitored_index(state, index), sigma)


def monitored_index(state: xr.Dataset, index: xr.DataArray) -> xr.DataArray:
    """The series the monitor scores for the acquisitions of ``index``: the self-referenced
    index (rNBR against the state's forest baseline and history median) when the state was
    started with ``self_reference``, else ``index`` itself; float32 ``(time, y, x)``, lazy.

    The reference of a date depends only on that date and the state, so this gives the values
    :func:`start` and :func:`update` monitored for any of their dates; with
    :func:`fusion.change.monitor.scores` it gives their scores. Built the same way as in
    :func:`start` (same inputs, same dask keys), so a graph holding both computes the
    reference once.
    """
    index = check_index(index)
    if not state.attrs["self_reference"]:
        return index
    p = params_of(state)
    return rnbr(index, state["forest"], params=p, baseline=state["history_median"])
