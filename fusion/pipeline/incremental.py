"""Incremental monitoring: per-tile monitor states kept in the output folder.

A scheduled run finds each tile's state in ``<out>/state/<tile>.zarr.zip`` (Zarr, see
:mod:`fusion.change.store`), searches only from the state's newest processed acquisition on
(minus the guide window, for fusion guides), and advances the state with the newer
acquisitions: a rerun with nothing new changes nothing, and runs one after another equal one
run over the whole period (the monitor is sequential and fusion is causal by default).

A state only continues runs that asked for the same thing: series, monitor parameters,
monitor start and forest mask are stored with it and checked; anything else is a clear error
(``--fresh`` starts over).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from fusion.catalog.search import SearchResult
from fusion.change.params import MonitorParams
from fusion.change.store import ZarrStateStore
from fusion.errors import MonitorStateError
from fusion.pipeline.config import RunConfig

STATE_DIR = "state"
"""Folder of the monitor states inside the output folder."""


def state_store(root: Path) -> ZarrStateStore:
    """The state store under an output (or staging) folder."""
    return ZarrStateStore(Path(root) / STATE_DIR)


def run_attrs(config: RunConfig) -> dict[str, str]:
    """What a state records of the runs allowed to continue it."""
    return {
        "series": config.series,
        "forest_mask": "" if config.forest_mask is None else str(Path(config.forest_mask).name),
    }


def load_state(out: Path, tile_id: str, config: RunConfig) -> xr.Dataset | None:
    """The tile's state from earlier runs into ``out``, or None (none yet, or ``--fresh``).

    Raises:
        MonitorStateError: the state is unreadable or was started for another series,
            other monitor parameters, another monitor start or another forest mask.
    """
    if config.fresh:
        return None
    store = state_store(out)
    state = store.load(tile_id)
    if state is None:
        return None
    found: dict[str, Any] = {
        "series": state.attrs.get("series"),
        "forest_mask": state.attrs.get("forest_mask", ""),
        "monitor parameters": json.loads(state.attrs["params"]),
    }
    wanted: dict[str, Any] = {
        **run_attrs(config),
        "monitor parameters": MonitorParams.from_kwargs(config.monitor).to_dict(),
    }
    if config.monitor_start is not None:
        found["monitor start"] = str(state.attrs["monitor_start"])[:10]
        wanted["monitor start"] = str(config.monitor_start)
    differ = [name for name in wanted if found.get(name) != wanted[name]]
    if differ:
        details = "; ".join(f"{n}: state {found.get(n)!r}, run {wanted[n]!r}" for n in differ)
        raise MonitorStateError(
            f"output folder {out}: the monitor state of tile {tile_id} ({store.path(tile_id)}) "
            f"was started with another {', '.join(differ)} ({details}); run with --fresh to "
            "start the monitor over from this run's period, or write to another --out"
        )
    return state


def last_time(state: xr.Dataset | None) -> np.datetime64 | None:
    """The newest acquisition a state has processed."""
    return None if state is None else np.datetime64(state.attrs["last_time"], "ns")


def search_start(state: xr.Dataset | None, config: RunConfig) -> dt.date | None:
    """First date to search for a tile with ``state``: its last acquisition's day, minus the
    guide window when fusing (older Sentinel-2 scenes guide new Landsat dates). None: the
    run's own period (no state). It may precede the period: a scheduled run that missed some
    runs still processes everything since the last acquisition it saw."""
    last = last_time(state)
    if last is None:
        return None
    day = dt.date.fromisoformat(str(last)[:10])
    if config.series == "fused":
        day -= dt.timedelta(days=int(np.ceil(config.guide_window_days)))
    return day


def has_newer(result: SearchResult, state: xr.Dataset | None) -> bool:
    """Whether ``result`` holds an acquisition the state has not processed."""
    last = last_time(state)
    if last is None:
        return True
    for items in result.items.values():
        for item in items or []:
            when = item.datetime or item.common_metadata.start_datetime
            if when is not None and np.datetime64(when.replace(tzinfo=None), "ns") > last:
                return True
    return False
