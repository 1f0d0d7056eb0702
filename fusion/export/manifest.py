"""The run manifest: what went in, what came out, what was skipped, how long it took.

pydantic, because it is serialised and read back by schedulers and by later runs.
"""

from __future__ import annotations

import datetime as dt
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from fusion.export.atomic import write_json_atomic

MANIFEST_NAME = "manifest.json"
_VERSIONED = (
    "fusion",
    "numpy",
    "xarray",
    "dask",
    "odc-stac",
    "odc-geo",
    "pystac-client",
    "rasterio",
    "torch",
)


class OutputRecord(BaseModel):
    """One file the run wrote, relative to the output folder."""

    path: str
    kind: str
    tile: str | None = None
    bytes: int


class TileRecord(BaseModel):
    """What happened in one tile."""

    id: str
    crs: str
    shape: tuple[int, int]
    bounds: tuple[float, float, float, float]
    scenes: dict[str, int] = Field(default_factory=dict)
    shifts: list[dict[str, Any]] = Field(default_factory=list)
    fusion: list[dict[str, Any]] = Field(default_factory=list)
    """Per fused Landsat date: the guide shift the network undid (``guide_shift_px``, rows
    and columns of the Landsat grid), whether its readout was ``refitted`` to the scene or the
    ``learnt`` one kept, and the refitted sigma scale per band (fusion.model.adapt)."""
    valid_observations: dict[str, float] = Field(default_factory=dict)
    """Median clear observations per pixel inside the AOI, per sensor."""
    alerts: dict[str, float] = Field(default_factory=dict)
    """Alert area (confirmed_ha, provisional_ha) and polygon count after the MMU."""
    monitor: dict[str, Any] = Field(default_factory=dict)
    """The monitor state: monitor_start, previous_last_time (None on a new state), last_time
    (newest acquisition processed), new_confirmed_alerts."""


class RunManifest(BaseModel):
    """Everything needed to know what a run did, and to reproduce it."""

    run_id: str
    status: Literal["complete", "partial", "failed", "unchanged"]
    started: dt.datetime
    finished: dt.datetime | None = None
    parameters: dict[str, Any]
    period: tuple[dt.date, dt.date]
    aoi: dict[str, Any]
    source: str
    tiles: list[TileRecord] = Field(default_factory=list)
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    duplicates_dropped: dict[str, str] = Field(default_factory=dict)
    """Dropped duplicate item id → the id kept instead (reprocessed scenes)."""
    skipped_assets: list[dict[str, Any]] = Field(default_factory=list)
    search_truncated: bool = False
    new_alerts: int = 0
    """Confirmed alert polygons this run adds to the output folder (none reported before);
    schedulers tell "new alerts" from "nothing new" by it (the CLI's exit code)."""
    warnings: list[str] = Field(default_factory=list)
    outputs: list[OutputRecord] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=lambda: software_versions())

    def write(self, path: Path) -> Path:
        """Write atomically as JSON."""
        return write_json_atomic(self.model_dump(mode="json"), path)


def software_versions() -> dict[str, str]:
    """Versions of Python and the libraries that decide the numbers."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
