"""Persistence of monitor states, one file per tile, written atomically.

Storage choice: the design asks for Zarr, which is not installed in this environment; netCDF
needs netCDF4/h5netcdf (not installed either; scipy's netCDF-3 writer has no int64, uint16 or
bool, which the state uses). A state is a handful of small ``(y, x)`` arrays per tile, so one
uncompressed-metadata ``.npz`` per tile (numpy only, dtypes kept exactly, no pickle) written to a
temporary file and renamed into place is the simplest robust option: a run killed mid-write
leaves the previous state intact. Callers go through :class:`StateStore`, so a Zarr store can
replace :class:`NpzStateStore` without touching them.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xarray as xr

from fusion.change.state import STATE_VERSION
from fusion.errors import MonitorStateError, OutputError

_META = "__meta__"


class StateStore(Protocol):
    """Where per-tile monitor states live."""

    def load(self, tile_id: str) -> xr.Dataset | None:
        """The tile's state, or None when the tile has none yet."""
        ...

    def save(self, tile_id: str, state: xr.Dataset) -> None:
        """Persist (computing it if lazy) the tile's state, replacing any previous one atomically."""
        ...


@dataclass(frozen=True)
class NpzStateStore:
    """States as ``<root>/<tile_id>.monitor-state.npz``."""

    root: Path
    """Folder of the state files; created on first save."""

    def path(self, tile_id: str) -> Path:
        """The state file of ``tile_id``."""
        return Path(self.root) / f"{tile_id}.monitor-state.npz"

    def load(self, tile_id: str) -> xr.Dataset | None:
        path = self.path(tile_id)
        return load_state(path) if path.exists() else None

    def save(self, tile_id: str, state: xr.Dataset) -> None:
        save_state(state, self.path(tile_id))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save_state(state: xr.Dataset, path: Path) -> None:
    """Write ``state`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    state = state.compute()
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": "fusion-monitor-state", "vars": {}, "coords": {}}
    meta["attrs"] = {k: _jsonable(v) for k, v in state.attrs.items()}
    for kind, items in (("vars", state.data_vars.items()), ("coords", state.coords.items())):
        for name, var in items:
            key = f"{kind}/{name}"
            arrays[key] = np.asarray(var.values)
            attrs = {k: _jsonable(v) for k, v in var.attrs.items()}
            meta[kind][str(name)] = {"key": key, "dims": list(var.dims), "attrs": attrs}
    arrays[_META] = np.array(json.dumps(meta))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write monitor state {path}: {err}; check the folder is writable and has space"
        ) from err


def load_state(path: Path) -> xr.Dataset:
    """Read a state written by :func:`save_state`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz[_META]))
            arrays = {k: npz[k] for k in npz.files if k != _META}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise MonitorStateError(
            f"monitor state {path} is unreadable ({err}): delete it and start a new state"
        ) from err
    if meta.get("format") != "fusion-monitor-state":
        raise MonitorStateError(f"{path} is not a fusion monitor state: check the state folder")
    version = meta["attrs"].get("state_version")
    if version != STATE_VERSION:
        raise MonitorStateError(
            f"monitor state {path} has format version {version!r}, this fusion reads "
            f"{STATE_VERSION}: start a new state from the full series"
        )

    def variable(spec: dict[str, Any]) -> xr.Variable:
        return xr.Variable(spec["dims"], arrays[spec["key"]], attrs=spec["attrs"])

    coords = {name: variable(spec) for name, spec in meta["coords"].items()}
    data = {name: variable(spec) for name, spec in meta["vars"].items()}
    return xr.Dataset(data, coords=coords, attrs=meta["attrs"])
