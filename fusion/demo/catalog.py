"""The demo catalogue on disk: make it once per (grid, period, seed, version), then reuse it.

A world is generated into a temporary sibling folder and renamed into place when complete,
so an interrupted generation is never mistaken for a finished one; leftovers of dead
generations are removed on the next call.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import wrap_xr

from fusion.bands import CANONICAL_BANDS
from fusion.demo import files
from fusion.demo.clearings import ClearingTable
from fusion.demo.config import DEFAULT_CONFIG, SIMULATOR_VERSION, DemoConfig, config_dict
from fusion.demo.generate import COLLECTIONS, ITEMS_PARQUET, generate, world_geobox
from fusion.demo.world import Surface, truth_at
from fusion.errors import AOIError, ConfigError

MANIFEST = "demo_catalog.json"

WORLD_PERIOD = (dt.date(2023, 1, 1), dt.date(2024, 6, 30))
"""The demo world's own period. Searches inside it all read the one world made over it, so
runs over different windows (scheduled runs, incremental tests) see the same scenes and the
same clearings; a search reaching outside it gets a world made over its own period."""
_TMP = ".tmp-"


@dataclass(frozen=True)
class DemoCatalog:
    """A generated demo world."""

    root: Path
    """Folder of the world (inside the cache)."""
    items_parquet: Path
    """stac-geoparquet index of every item of both collections."""
    collections: dict[str, Path]
    """Collection id → collection JSON file."""
    truth_dir: Path
    """Base surface, class map, clearings (GeoPackage/GeoJSON) and per-acquisition facts."""
    seed: int
    geobox: GeoBox
    """The world's 10 m grid: the AOI grid plus the margin."""

    @property
    def clearings_path(self) -> Path:
        """Ground-truth clearing polygons (world CRS): id, area_ha, clear_date, regrowth_days, kind."""
        return self.truth_dir / files.CLEARINGS_GPKG

    @property
    def acquisitions_path(self) -> Path:
        """JSON list of per-acquisition facts: item id, true cloud fraction, shift dx/dy (m)…"""
        return self.truth_dir / files.ACQUISITIONS


def default_cache_dir() -> Path:
    """``$FUSION_CACHE_DIR/demo``, else ``~/.cache/fusion/demo``."""
    base = os.environ.get("FUSION_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "fusion") / "demo"


def ensure_demo_catalog(
    geobox: GeoBox,
    *,
    start: dt.date,
    end: dt.date,
    seed: int = 0,
    cache_dir: Path | None = None,
    config: DemoConfig = DEFAULT_CONFIG,
) -> DemoCatalog:
    """The demo catalogue for an AOI grid and period: reused from the cache, else generated."""
    _check(geobox, start, end, seed)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(geobox, start=start, end=end, seed=seed, config=config)
    root = cache / key
    if not (root / MANIFEST).is_file():
        _generate_atomically(root, geobox, start=start, end=end, seed=seed, config=config)
    return DemoCatalog(
        root=root,
        items_parquet=root / ITEMS_PARQUET,
        collections={k: root / v for k, v in COLLECTIONS.items()},
        truth_dir=root / "truth",
        seed=seed,
        geobox=world_geobox(geobox, config),
    )


def cache_key(
    geobox: GeoBox, *, start: dt.date, end: dt.date, seed: int, config: DemoConfig
) -> str:
    """Folder name of a world: a hash of everything that shapes it."""
    spec = {
        "crs": str(geobox.crs),
        "affine": list(geobox.affine)[:6],
        "shape": [geobox.shape.y, geobox.shape.x],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "seed": seed,
        "version": SIMULATOR_VERSION,
        "config": config_dict(config),
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"{start:%Y%m%d}-{end:%Y%m%d}-s{seed}-{digest}"


def demo_truth(catalog: DemoCatalog, when: dt.date | np.datetime64) -> xr.DataArray:
    """True 10 m OLI-like reflectance of the world on a date: ``(band, y, x)`` float32 on
    ``catalog.geobox``, recomputed from the saved base surface and clearings."""
    if isinstance(when, np.datetime64):
        day = dt.date.fromisoformat(str(when.astype("datetime64[D]")))
    elif isinstance(when, dt.datetime):
        day = when.date()
    else:
        day = when
    surface, clearing_id, table = _load_truth(catalog.truth_dir)
    values = truth_at(surface, clearing_id, table, day.toordinal())
    out = wrap_xr(values, catalog.geobox, nodata=None, dims=("band", "y", "x"), axis=1)
    out.attrs.pop("nodata", None)  # reflectance everywhere: no nodata
    return out.assign_coords(band=list(CANONICAL_BANDS)).rename(f"truth_{day:%Y%m%d}")


@functools.lru_cache(maxsize=4)
def _load_truth(folder: Path) -> tuple[Surface, np.ndarray, ClearingTable]:
    return files.read_truth(folder)


def _generate_atomically(
    root: Path, geobox: GeoBox, *, start: dt.date, end: dt.date, seed: int, config: DemoConfig
) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    work = root.with_name(f"{_TMP}{root.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    began = time.perf_counter()
    try:
        summary = generate(work, root, geobox, start=start, end=end, seed=seed, config=config)
        manifest = {
            "simulator_version": SIMULATOR_VERSION,
            "seed": seed,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "aoi_geobox": {"crs": str(geobox.crs), "affine": list(geobox.affine)[:6],
                           "shape": [geobox.shape.y, geobox.shape.x]},
            "config": config_dict(config),
            "summary": summary,
            "generation_seconds": round(time.perf_counter() - began, 2),
        }  # fmt: skip
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            work.rename(root)
        except OSError:
            if not (root / MANIFEST).is_file():  # not a finished twin from another process
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _remove_stale(root: Path) -> None:
    """Delete unfinished generations of this world whose process is gone; a half-made folder
    at ``root`` itself (no manifest) is also removed."""
    if root.exists() and not (root / MANIFEST).is_file():
        shutil.rmtree(root, ignore_errors=True)
    for leftover in root.parent.glob(f"{_TMP}{root.name}-*"):
        pid = leftover.name.removeprefix(f"{_TMP}{root.name}-").split("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier attempt, interrupted
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check(geobox: GeoBox, start: dt.date, end: dt.date, seed: int) -> None:
    crs = geobox.crs
    epsg = crs.epsg if crs is not None else None
    if epsg is None or not (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        raise AOIError(
            f"demo world grid {geobox!r}: CRS {crs} is not a WGS 84 / UTM zone; build the grid with fusion.aoi.aoi_grid"
        )
    res = geobox.resolution
    x0, y0, x1, y1 = geobox.boundingbox
    if (res.x, -res.y) != (10, 10) or any(v % 30 for v in (x0, y0, x1, y1)):
        raise AOIError(
            f"demo world grid {geobox!r}: needs 10 m pixels with edges on multiples of 30 m (got resolution {res.x}, bounds {x0, y0, x1, y1}); build the grid with fusion.aoi.aoi_grid"
        )
    if end < start:
        raise ConfigError(f"demo period {start}..{end}: end is before start; swap the dates")
    if seed < 0:
        raise ConfigError(f"demo seed {seed}: must be a non-negative integer")
