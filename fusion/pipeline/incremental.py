"""Incremental monitoring: per-tile monitor states kept in the output folder.

A scheduled run finds each tile's state in ``<out>/state/<tile>.zarr.zip`` (Zarr, see
:mod:`fusion.change.store`) and advances it with the acquisitions it has not processed: a
rerun with nothing new changes nothing, and runs one after another equal one run over the
whole period (the monitor is sequential and fusion is causal by default).

Scenes reach catalogues late and out of order: Landsat Collection 2 Level-2 scenes are
published days to weeks after acquisition, Sentinel-2 within a day or two, so a run that had
already advanced a state past a Landsat date would never see that date. A file therefore
holds two states (:class:`TileState`): ``live``, after every acquisition processed (its
alerts are the published ones), and ``settled``, after the acquisitions older than the newest
one by more than ``RunConfig.late_days``. Each run replays from ``settled`` over every
acquisition after it, late arrivals included, and records the ids of the scenes it processed
after ``settled``; a scene not among them makes the next run replay. A scene published more
than ``late_days`` after newer ones is not monitored.

A state only continues runs that asked for the same thing: series, monitor parameters,
monitor start and forest mask are stored with it and checked; anything else is a clear error
(``--fresh`` starts over).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import xarray as xr

from fusion.catalog.search import SearchResult
from fusion.change.params import MonitorParams
from fusion.change.store import ZarrStateStore
from fusion.errors import MonitorStateError
from fusion.pipeline.config import RunConfig

STATE_DIR = "state"
"""Folder of the monitor states inside the output folder."""

_SETTLED: Final = "settled_"
"""Prefix of the settled state's variables in a state file (the live state's are bare)."""


@dataclass(frozen=True)
class TileState:
    """A tile's monitor states from earlier runs (see the module docstring)."""

    live: xr.Dataset
    """After every acquisition processed: the state the published alerts come from."""
    settled: xr.Dataset
    """After the acquisitions up to its ``last_time``: the state the next run replays from."""
    seen: frozenset[str]
    """Ids of the items acquired after ``settled``'s ``last_time`` that runs processed."""

    def pack(self) -> xr.Dataset:
        """One Dataset for the state file: live variables and attrs, settled variables
        prefixed, the settled ``last_time`` and the seen items in attrs."""
        settled = self.settled.rename({n: f"{_SETTLED}{n}" for n in self.settled.data_vars})
        packed = xr.merge([self.live, settled], combine_attrs="override")
        return packed.assign_attrs(
            settled_last_time=self.settled.attrs["last_time"],
            seen_items=json.dumps(sorted(self.seen)),
        )

    @classmethod
    def unpack(cls, packed: xr.Dataset) -> TileState:
        """The states of a state file; a file holding one state (written before late scenes
        were handled) counts as settled at its ``last_time`` with nothing seen after it."""
        extra = ("settled_last_time", "seen_items")
        attrs = {k: v for k, v in packed.attrs.items() if k not in extra}
        names = [str(n) for n in packed.data_vars]
        live = packed[[n for n in names if not n.startswith(_SETTLED)]]
        live.attrs = attrs
        settled_names = {n: n[len(_SETTLED) :] for n in names if n.startswith(_SETTLED)}
        if not settled_names:
            return cls(live=live, settled=live, seen=frozenset())
        settled = packed[list(settled_names)].rename(settled_names)
        settled.attrs = {**attrs, "last_time": packed.attrs["settled_last_time"]}
        seen = frozenset(json.loads(packed.attrs.get("seen_items", "[]")))
        return cls(live=live, settled=settled, seen=seen)


def state_store(root: Path) -> ZarrStateStore:
    """The state store under an output (or staging) folder."""
    return ZarrStateStore(Path(root) / STATE_DIR)


def run_attrs(config: RunConfig) -> dict[str, str]:
    """What a state records of the runs allowed to continue it."""
    return {
        "series": config.series,
        "forest_mask": "" if config.forest_mask is None else str(Path(config.forest_mask).name),
    }


def load_state(out: Path, tile_id: str, config: RunConfig) -> TileState | None:
    """The tile's state from earlier runs into ``out``, or None (none yet, or ``--fresh``).

    Raises:
        MonitorStateError: the state is unreadable or was started for another series,
            other monitor parameters, another monitor start or another forest mask.
    """
    if config.fresh:
        return None
    store = state_store(out)
    packed = store.load(tile_id)
    if packed is None:
        return None
    states = TileState.unpack(packed)
    state = states.live
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
    return states


def last_time(state: xr.Dataset | None) -> np.datetime64 | None:
    """The newest acquisition a state has processed."""
    return None if state is None else np.datetime64(state.attrs["last_time"], "ns")


def search_start(state: TileState | None, config: RunConfig) -> dt.date | None:
    """First date to search for a tile with ``state``: its settled state's last acquisition
    day, minus the guide window when fusing (older Sentinel-2 scenes guide new Landsat dates).
    None: the run's own period (no state). It may precede the period: a scheduled run that
    missed some runs still processes everything since the last acquisition it saw."""
    last = None if state is None else last_time(state.settled)
    if last is None:
        return None
    day = dt.date.fromisoformat(str(last)[:10])
    if config.series == "fused":
        day -= dt.timedelta(days=int(np.ceil(config.guide_window_days)))
    return day


def has_newer(result: SearchResult, state: TileState | None) -> bool:
    """Whether ``result`` holds an item acquired after the settled state that no run has
    processed (a new scene, or one that reached the catalogue late)."""
    if state is None:
        return True
    seen = state.seen
    return any(i not in seen for i in items_after(result, last_time(state.settled)))


def items_after(result: SearchResult, last: np.datetime64 | None) -> list[str]:
    """Ids of the items of ``result`` acquired after ``last`` (all when None)."""
    ids = []
    for items in result.items.values():
        for item in items or []:
            when = item.datetime or item.common_metadata.start_datetime
            if last is None or (
                when is not None and np.datetime64(when.replace(tzinfo=None), "ns") > last
            ):
                ids.append(item.id)
    return ids
