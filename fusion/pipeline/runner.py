"""Run the pipeline: AOI → tiles → search → ingest → composite → outputs.

This is the one place that computes. Outputs are written into a staging folder inside the
output folder and moved into place only when the whole run has succeeded, so a failed or
interrupted run leaves the previous outputs intact. The manifest is moved last.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from fusion.aoi import Tile, aoi_grid, read_aoi
from fusion.bands import CANONICAL_BANDS
from fusion.errors import FusionWarning, NoScenesError, OutputError
from fusion.export.cog import write_cog
from fusion.export.manifest import MANIFEST_NAME, OutputRecord, RunManifest, TileRecord
from fusion.pipeline.config import RunConfig

log = logging.getLogger("fusion")


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced."""

    out: Path
    manifest: RunManifest


def search_tiles(config: RunConfig) -> Iterator[tuple[Tile, Any]]:
    """Search every tile of the AOI; yields ``(tile, SearchResult)``."""
    from fusion.catalog.config import load_data_catalog
    from fusion.catalog.search import search_items

    start, end = config.period()
    tiles = aoi_grid(read_aoi(config.aoi))
    source = load_data_catalog(config.catalog).source(config.source)
    for tile in tiles:
        result = search_items(
            source,
            intersects=tile.geometry.to_crs("EPSG:4326").json,
            start=start,
            end=end,
            max_cloud=config.max_cloud,
            sensors=config.sensors,
            demo_geobox=tile.geobox,
        )
        yield tile, result


def run(config: RunConfig, *, progress: bool = True) -> RunResult:
    """Run the pipeline for ``config`` and publish its outputs atomically."""
    started = dt.datetime.now(dt.UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    start, end = config.period()
    timings: dict[str, float] = {}
    out = config.out
    with _timed(timings, "aoi"):
        aoi = read_aoi(config.aoi)
        tiles = aoi_grid(aoi)
    staging = _prepare_output(out, run_id)
    manifest = RunManifest(
        run_id=run_id,
        status="complete",
        started=started,
        parameters=config.to_dict(),
        period=(start, end),
        aoi={
            "path": str(config.aoi),
            "bounds_wgs84": [float(v) for v in aoi.total_bounds],
            "area_ha": float(aoi.to_crs(tiles[0].crs.to_wkt()).area.iloc[0] / 1e4),
            "tiles": len(tiles),
        },
        source=config.source,
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FusionWarning)
            for tile, result in _log_progress(search_tiles(config), len(tiles), progress, timings):
                _run_tile(tile, result, config, staging, manifest, timings)
        # Outside the recording context: showwarning inside it would append to `caught`.
        for warning in caught:
            if issubclass(warning.category, FusionWarning):
                manifest.warnings.append(str(warning.message))
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        manifest.status = "partial" if manifest.skipped_assets else "complete"
        manifest.finished = dt.datetime.now(dt.UTC)
        manifest.timings_s = {k: round(v, 3) for k, v in timings.items()}
        manifest.write(staging / MANIFEST_NAME)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunResult(out=out, manifest=manifest)


def _run_tile(
    tile: Tile,
    result: Any,
    config: RunConfig,
    staging: Path,
    manifest: RunManifest,
    timings: dict[str, float],
) -> None:
    from fusion.composite import harmonized_composite
    from fusion.ingest.checks import check_physical_range, range_stats
    from fusion.ingest.load import load_sensor
    from fusion.ingest.shift import measure_shifts

    items = result.items
    if not any(items.get(s) for s in config.sensors):
        start, end = config.period()
        raise NoScenesError(
            f"tile {tile.id}: no scenes from source {config.source!r} between {start} and {end} "
            f"under the cloud-cover limit; widen the dates or raise --max-cloud"
        )
    manifest.inputs.extend(p.to_dict() for p in result.provenance)
    manifest.duplicates_dropped.update(result.duplicates_dropped)
    manifest.search_truncated |= bool(result.truncated)
    record = TileRecord(
        id=tile.id,
        crs=str(tile.crs),
        shape=(tile.geobox.height, tile.geobox.width),
        bounds=tuple(float(v) for v in tile.geobox.extent.boundingbox.bbox),  # type: ignore[arg-type]
        scenes={s: len(items.get(s, [])) for s in config.sensors},
    )
    with _timed(timings, "ingest"):
        loaded: dict[str, xr.Dataset | None] = {}
        for sensor in config.sensors:
            if not items.get(sensor):
                loaded[sensor] = None
                continue
            geobox = tile.geobox30 if sensor == "landsat" else tile.geobox
            loaded[sensor] = load_sensor(
                items[sensor],
                result.bands,
                geobox=geobox,
                chunks={"x": config.chunk_px, "y": config.chunk_px},
                mask_buffer_m=config.mask_buffer_m,
                patch_url=result.patch_url,
            )
    with _timed(timings, "shift"):
        if loaded.get("landsat") is not None and loaded.get("sentinel2") is not None:
            shifts = measure_shifts(
                loaded["landsat"],
                loaded["sentinel2"],
                max_days=config.shift_max_days,
                threshold_m=config.shift_threshold_m,
            )
            record.shifts = [s.to_dict() for s in shifts]
    with _timed(timings, "compute"):
        composite = harmonized_composite(
            loaded.get("landsat"), loaded.get("sentinel2"), geobox=tile.geobox
        )
        mask = _aoi_mask(tile)
        composite = composite.where(mask)
        stats = {
            sensor: range_stats(ds["reflectance"]).drop_vars(
                [c for c in ("item_id", "platform", "dn_scale", "dn_offset") if c in ds.coords]
            )
            for sensor, ds in loaded.items()
            if ds is not None
        }
        # One compute for the checks and the composite, so the scenes are read once, and of a
        # single Dataset: dask 2026.8 loses keys when several collections that share odc-stac
        # subgraphs are optimised together ("Missing dependency ... astype").
        bundle = composite.merge(
            {
                f"{sensor}:{name}": var.rename(time=f"{sensor}:time")
                for sensor, st in stats.items()
                for name, var in st.data_vars.items()
            }
        )
        computed = bundle.compute()
        for key, st in stats.items():
            ds = loaded[key]
            assert ds is not None
            sensor_stats = xr.Dataset(
                {
                    name: computed[f"{key}:{name}"].rename({f"{key}:time": "time"})
                    for name in st.data_vars
                },
                coords={
                    "item_id": ("time", ds["item_id"].values),
                    "dn_offset": ("time", ds["dn_offset"].values),
                },
                attrs=st.attrs,
            )
            check_physical_range(sensor_stats)
    with _timed(timings, "write"):
        folder = staging / tile.id
        refl = computed["reflectance"].astype("float32")
        path = write_cog(
            refl,
            folder / "composite.tif",
            nodata=float("nan"),
            band_names=list(CANONICAL_BANDS),
            units="reflectance",
            tags={
                "FUSION_RUN": manifest.run_id,
                "FUSION_PERIOD": f"{manifest.period[0]}/{manifest.period[1]}",
            },
        )
        _record(manifest, staging, path, "composite", tile.id)
        counts = (
            xr.concat([computed["valid_landsat"], computed["valid_sentinel2"]], dim="band")
            .fillna(0)
            .astype("uint16")
        )
        counts = counts.assign_coords(band=["landsat", "sentinel2"])
        path = write_cog(
            counts,
            folder / "valid_observations.tif",
            nodata=None,
            band_names=["clear Landsat observations", "clear Sentinel-2 observations"],
            overview_resampling="nearest",
        )
        _record(manifest, staging, path, "valid_observations", tile.id)
        for name in ("valid_landsat", "valid_sentinel2"):
            values = computed[name].values[np.asarray(mask.values)]
            record.valid_observations[name.removeprefix("valid_")] = (
                float(np.median(values)) if values.size else 0.0
            )
    manifest.tiles.append(record)


def _aoi_mask(tile: Tile) -> xr.DataArray:
    from odc.geo.xr import rasterize

    return rasterize(tile.geometry, tile.geobox)


def _record(manifest: RunManifest, staging: Path, path: Path, kind: str, tile: str | None) -> None:
    manifest.outputs.append(
        OutputRecord(
            path=str(path.relative_to(staging)), kind=kind, tile=tile, bytes=path.stat().st_size
        )
    )


def _prepare_output(out: Path, run_id: str) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = out / f".staging-{run_id}"
        staging.mkdir()
        probe = staging / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"output folder {out}: not writable ({exc.strerror or exc}); choose another --out or fix its permissions"
        ) from exc
    return staging


def _publish(staging: Path, out: Path) -> None:
    """Move staged files into ``out``; the manifest last, so it only ever describes files present."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == MANIFEST_NAME)
    for path in files:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0


def _log_progress(
    tiles: Iterator[tuple[Tile, Any]], total: int, progress: bool, timings: dict[str, float]
) -> Iterator[tuple[Tile, Any]]:
    t0 = time.perf_counter()
    for index, (tile, result) in enumerate(tiles, start=1):
        timings["search"] = timings.get("search", 0.0) + time.perf_counter() - t0
        if progress:
            counts = ", ".join(f"{len(v)} {k}" for k, v in result.items.items())
            log.info("tile %s (%d/%d): %s scenes", tile.id, index, total, counts)
        yield tile, result
        t0 = time.perf_counter()
