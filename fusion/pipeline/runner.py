"""Run the pipeline: AOI → tiles → search → per-tile processing → published outputs.

This is the one place that computes (through :mod:`fusion.pipeline.tile`). Outputs are
written into a staging folder inside the output folder and moved into place only when the
whole run has succeeded, so a failed or interrupted run leaves earlier outputs intact. The
manifest is moved last: it only ever describes files that are present.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from fusion.aoi import Tile, aoi_grid, read_aoi
from fusion.catalog.config import load_data_catalog
from fusion.catalog.search import SearchResult, search_items
from fusion.errors import FusionWarning, OutputError
from fusion.export.alerts import append_polygons
from fusion.export.manifest import MANIFEST_NAME, OutputRecord, RunManifest
from fusion.export.stac import write_output_catalog
from fusion.pipeline.config import RunConfig
from fusion.pipeline.progress import Stages
from fusion.pipeline.tile import process_tile

log = logging.getLogger("fusion.pipeline")

ALERTS_GPKG = "alerts.gpkg"
"""Alert polygons of every run, appended (one GeoPackage per output folder)."""


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced."""

    out: Path
    manifest: RunManifest


def search_tiles(
    config: RunConfig, tiles: list[Tile] | None = None
) -> Iterator[tuple[Tile, SearchResult]]:
    """Search every tile of the AOI; yields ``(tile, result)`` one tile at a time."""
    start, end = config.period()
    if tiles is None:
        tiles = aoi_grid(read_aoi(config.aoi))
    source = load_data_catalog(config.catalog).source(config.source)
    for tile in tiles:
        yield (
            tile,
            search_items(
                source,
                intersects=tile.geometry.to_crs("EPSG:4326").json,
                start=start,
                end=end,
                max_cloud=config.max_cloud,
                sensors=config.sensors,
                demo_geobox=tile.geobox,
            ),
        )


def run(config: RunConfig, *, progress: bool = True) -> RunResult:
    """Run the pipeline for ``config`` and publish its outputs atomically."""
    started = dt.datetime.now(dt.UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    start, end = config.period()
    stages = Stages(show=progress)
    if config.series == "fused":
        _set_torch_threads()
    with stages.step("aoi"):
        aoi = read_aoi(config.aoi)
        tiles = aoi_grid(aoi)
    staging = _prepare_output(config.out, run_id)
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
        polygons = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FusionWarning)
            searches = search_tiles(config, tiles)
            for index in range(len(tiles)):
                with stages.step("search"):
                    tile, result = next(searches)
                log.info("tile %s (%d/%d): %s", tile.id, index + 1, len(tiles), _counts(result))
                _record_search(manifest, result)
                outputs = process_tile(
                    tile, result, config, folder=staging / tile.id, run_id=run_id, stages=stages
                )
                manifest.tiles.append(outputs.record)
                if outputs.polygons is not None:
                    polygons.append(outputs.polygons)
                for kind, path in outputs.files.items():
                    _record_output(manifest, staging, path, kind.split(":")[0], tile.id)
            if polygons:
                gpkg = append_polygons(
                    _merge_polygons(polygons), config.out / ALERTS_GPKG, staging / ALERTS_GPKG
                )
                _record_output(manifest, staging, gpkg, "alert_polygons", None)
            footprints = {tile.id: tile.geobox.extent for tile in tiles}
            for path in write_output_catalog(manifest, staging, footprints=footprints):
                _record_output(manifest, staging, path, "stac", None)
        # Outside the recording context: showwarning inside it would append to `caught`.
        for warning in caught:
            if issubclass(warning.category, FusionWarning):
                manifest.warnings.append(str(warning.message))
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        manifest.status = "partial" if manifest.skipped_assets else "complete"
        manifest.finished = dt.datetime.now(dt.UTC)
        manifest.timings_s = {k: round(v, 3) for k, v in stages.timings.items()}
        manifest.write(staging / MANIFEST_NAME)
        _publish(staging, config.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunResult(out=config.out, manifest=manifest)


def _set_torch_threads() -> None:
    """One torch thread per dask worker thread: torch's default (all cores) inside each of
    dask's threads oversubscribes the machine and slows inference several-fold."""
    import dask
    import torch

    workers = dask.config.get("num_workers", None) or os.cpu_count() or 1
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


def _record_output(
    manifest: RunManifest, staging: Path, path: Path, kind: str, tile: str | None
) -> None:
    manifest.outputs.append(
        OutputRecord(
            path=str(path.relative_to(staging)), kind=kind, tile=tile, bytes=path.stat().st_size
        )
    )


def _merge_polygons(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """One frame in EPSG:4326 from per-tile frames in their UTM zones."""
    return gpd.GeoDataFrame(
        pd.concat([f.to_crs("EPSG:4326") for f in frames], ignore_index=True), crs="EPSG:4326"
    )


def _counts(result: SearchResult) -> str:
    return ", ".join(f"{len(items)} {sensor}" for sensor, items in result.items.items()) + " scenes"


def _record_search(manifest: RunManifest, result: SearchResult) -> None:
    manifest.inputs.extend(p.to_dict() for p in result.provenance)
    manifest.duplicates_dropped.update(result.duplicates_dropped)
    manifest.search_truncated |= bool(result.truncated)


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
            f"output folder {out}: not writable ({exc.strerror or exc}); choose another --out "
            "or fix its permissions"
        ) from exc
    return staging


def _publish(staging: Path, out: Path) -> None:
    """Move staged files into ``out``; the manifest last."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == MANIFEST_NAME)
    try:
        for path in files:
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
    except OSError as exc:
        raise OutputError(
            f"output folder {out}: cannot publish the run's files ({exc.strerror or exc}); "
            "check free space and permissions"
        ) from exc
