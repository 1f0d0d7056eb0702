"""Persistence of monitor states: one Zarr store per tile, replaced atomically.

Each state is a Zarr v3 hierarchy inside a single zip file (``<tile>.zarr.zip``): every
variable a compressed Zarr array with its dtype kept exactly (datetime64, bool, uint16), the
attrs in the group metadata. One file rather than a directory store because a file can be
replaced atomically (write beside it, then rename): a run killed mid-write leaves the previous
state intact, and publishing a run moves states like any other output. The state of a tile is a
few small ``(y, x)`` arrays, so a zip costs nothing in access speed here.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import xarray as xr
from zarr.errors import BaseZarrError
from zarr.storage import ZipStore

from fusion.change.state import STATE_VERSION
from fusion.errors import MonitorStateError, OutputError

SUFFIX = ".zarr.zip"
_FORMAT = "fusion-monitor-state"
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZarrStateStore:
    """States as ``<root>/<tile_id>.zarr.zip``."""

    root: Path
    """Folder of the state files; created on first save."""

    def path(self, tile_id: str) -> Path:
        """The state file of ``tile_id``."""
        return Path(self.root) / f"{tile_id}{SUFFIX}"

    def load(self, tile_id: str) -> xr.Dataset | None:
        path = self.path(tile_id)
        return load_state(path) if path.exists() else None

    def save(self, tile_id: str, state: xr.Dataset) -> None:
        save_state(state, self.path(tile_id))


def save_state(state: xr.Dataset, path: Path) -> None:
    """Write ``state`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    state = state.compute()
    state = state.assign_attrs(format=_FORMAT)
    for var in state.variables.values():
        var.encoding = {}  # encodings from a loaded state must not leak into the new write
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written as a directory store, then zipped: xarray rewrites group metadata while it
        # writes, which an append-only zip store would keep as duplicate entries.
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".state-") as folder:
            state.to_zarr(folder, mode="w", consolidated=False, zarr_format=3)
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:  # chunks are compressed
                for file in sorted(Path(folder).rglob("*")):
                    if file.is_file():
                        # A fixed timestamp: the same state always gives the same bytes.
                        info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), _EPOCH)
                        zf.writestr(info, file.read_bytes())
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write monitor state {path}: {err}; check the folder is writable and has space"
        ) from err


def load_state(path: Path) -> xr.Dataset:
    """Read a state written by :func:`save_state` (into memory: states are small)."""
    path = Path(path)
    try:
        zipfile.ZipFile(path).close()  # a clear error before zarr sees a broken file
        store = ZipStore(path, mode="r")
        try:
            state = xr.open_zarr(store, consolidated=False, zarr_format=3).load()
        finally:
            store.close()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, BaseZarrError) as err:
        raise MonitorStateError(
            f"monitor state {path} is unreadable ({err}): delete it and start a new state"
        ) from err
    if state.attrs.get("format") != _FORMAT:
        raise MonitorStateError(f"{path} is not a fusion monitor state: check the state folder")
    version = state.attrs.get("state_version")
    if version != STATE_VERSION:
        raise MonitorStateError(
            f"monitor state {path} has format version {version!r}, this fusion reads "
            f"{STATE_VERSION}: start a new state from the full series"
        )
    for var in state.variables.values():
        var.encoding = {}
    del state.attrs["format"]
    return state
