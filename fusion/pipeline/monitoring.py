"""A tile's monitor graph for one run: replay from the settled state, settle, go live.

A run advances the tile's settled state (:class:`fusion.pipeline.incremental.TileState`) in
two steps: over the acquisitions up to the settle cut (the newest acquisition minus
``late_days``), which gives the next run's settled state, then over the rest, which gives the
live state whose alerts are published. The monitor is sequential, so the live state equals one
advance over everything, and the settled state equals a run that ended at the cut.

:func:`monitor_scores` gives the score of each acquisition for the run report, built from the
very arrays the monitor referenced so that dask computes the self-reference once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from fusion.change.monitor import scores
from fusion.change.state import monitored_index
from fusion.change.state import start as start_state
from fusion.change.state import update as update_state

_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class MonitorGraph:
    """Lazy states of one run and the series the monitor referenced to reach them."""

    settled: xr.Dataset
    """After the acquisitions up to the settle cut: the next run replays from here."""
    live: xr.Dataset
    """After every acquisition: the published alerts come from here."""
    parts: tuple[tuple[xr.DataArray, xr.DataArray], ...]
    """``(index, sigma)`` exactly as :func:`~fusion.change.state.start` and
    :func:`~fusion.change.state.update` referenced them, in time order."""


def settle_cut(times: np.ndarray, late_days: float) -> np.datetime64 | None:
    """The newest of ``times`` minus ``late_days``; None without times."""
    if times.size == 0:
        return None
    newest = np.asarray(times, "datetime64[ns]").max()
    return newest - np.timedelta64(round(late_days * _NS_PER_DAY), "ns")


def advance_monitor(
    index: xr.DataArray,
    sigma: xr.DataArray,
    *,
    settled: xr.Dataset | None,
    cut: np.datetime64 | None,
    monitor_start: str,
    forest_mask: xr.DataArray | None = None,
    params: dict[str, Any] | None = None,
) -> MonitorGraph:
    """Advance ``settled`` (None: start a state from ``index``) to the cut, then to the end.

    Lazy. The history is always settled whole: a state cannot take late history dates.

    Raises:
        MonitorInputError: no state and ``index`` holds too little history to start one.
    """
    times = index["time"].values
    if cut is None:
        cut = times.max() if times.size else np.datetime64("NaT", "ns")
    if settled is None:
        t0 = np.datetime64(monitor_start, "ns")
        first = np.flatnonzero(times <= max(cut, t0 - np.timedelta64(1, "ns")))
        head, head_sigma = _select(index, first), _select(sigma, first)
        settled = start_state(
            head,
            monitor_start=monitor_start,
            sigma=head_sigma,
            forest_mask=forest_mask,
            **(params or {}),
        )
        parts = [(head, head_sigma)]
    else:
        last = np.datetime64(settled.attrs["last_time"], "ns")
        first = np.flatnonzero((times > last) & (times <= cut))
        parts = [(_select(index, first), _select(sigma, first))] if first.size else []
        if parts:
            settled = update_state(settled, parts[0][0], sigma=parts[0][1])
    last = np.datetime64(settled.attrs["last_time"], "ns")
    rest = np.flatnonzero(times > last)
    live = settled
    if rest.size:
        parts.append((_select(index, rest), _select(sigma, rest)))
        live = update_state(settled, parts[-1][0], sigma=parts[-1][1])
    return MonitorGraph(settled=settled, live=live, parts=tuple(parts))


def monitor_scores(
    index: xr.DataArray,
    sigma: xr.DataArray,
    graph: MonitorGraph,
    *,
    before: np.datetime64 | None = None,
) -> xr.DataArray:
    """The monitor's score of each acquisition of ``index`` since monitor start (NaN before);
    lazy, ``(time, y, x)`` like ``index``.

    The dates in ``graph.parts`` are scored from the same arrays the monitor referenced (dask
    merges the two); monitored dates up to ``before`` (the ``last_time`` the run replayed
    from) were monitored by earlier runs and are referenced here alone.
    """
    times = index["time"].values
    after = graph.live
    t0 = np.datetime64(after.attrs["monitor_start"], "ns")
    parts = list(graph.parts)
    if before is not None:
        old = np.flatnonzero((times >= t0) & (times <= before))
        if old.size:
            parts.insert(0, (_select(index, old), _select(sigma, old)))
    z = [scores(after, monitored_index(after, i), s) for i, s in parts]
    if not z:
        return xr.full_like(index, np.nan, dtype=np.float32).rename("score")
    whole = xr.concat(z, dim="time").reindex(time=times)
    return whole.where(index["time"] >= t0)


def _select(array: xr.DataArray, sel: np.ndarray) -> xr.DataArray:
    """``array`` at the time positions ``sel``; itself when they are all of them (no new
    graph layer, so arrays referenced by the monitor and by the scores stay one)."""
    if sel.size == array.sizes["time"]:
        return array
    return array.isel(time=sel)
