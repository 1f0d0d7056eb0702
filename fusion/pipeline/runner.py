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
from typing import Any

import geopandas as gpd
import pandas as pd

from fusion.aoi import Tile, aoi_grid, read_aoi
from fusion.catalog.config import load_data_catalog
from fusion.catalog.search import SearchResult, search_items
from fusion.change.polygons import merge_tile_polygons
from fusion.errors import FusionWarning
from fusion.export.alerts import append_polygons
from fusion.export.manifest import MANIFEST_NAME, OutputRecord, RunManifest
from fusion.export.mosaic import write_mosaics
from fusion.export.qgis_project import write_qgis_project
from fusion.export.stac import write_output_catalog
from fusion.pipeline import lock as output_lock
from fusion.pipeline.assets import screen_assets
from fusion.pipeline.cluster import dask_client
from fusion.pipeline.config import RunConfig
from fusion.pipeline.forest import load_forest_mask
from fusion.pipeline.incremental import (
    has_newer,
    last_time,
    load_state,
    run_attrs,
    search_start,
    state_store,
)
from fusion.pipeline.progress import Stages
from fusion.pipeline.sample_history import load_history, save_history
from fusion.pipeline.staging import Staging, publish
from fusion.pipeline.staging import prepare as prepare_staging
from fusion.pipeline.tile import process_tile

log = logging.getLogger("fusion.pipeline")

ALERTS_GPKG = "alerts.gpkg"
"""Alert polygons of every run, appended (one GeoPackage per output folder)."""


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced."""

    out: Path
    manifest: RunManifest


def search_tile(config: RunConfig, tile: Tile, *, start: dt.date | None = None) -> SearchResult:
    """Search one tile over the run's period, or from ``start`` when given (incremental runs)."""
    first, end = config.period()
    source = load_data_catalog(config.catalog).source(config.source)
    return search_items(
        source,
        intersects=tile.geometry.to_crs("EPSG:4326").json,
        start=first if start is None else start,
        end=end,
        max_cloud=config.max_cloud,
        sensors=config.sensors,
        demo_geobox=tile.geobox,
    )


def search_tiles(
    config: RunConfig, tiles: list[Tile] | None = None
) -> Iterator[tuple[Tile, SearchResult]]:
    """Search every tile of the AOI over the run's period; yields ``(tile, result)``."""
    if tiles is None:
        tiles = aoi_grid(read_aoi(config.aoi), tile_size_m=config.tile_size_m)
    for tile in tiles:
        yield tile, search_tile(config, tile)


def run(config: RunConfig, *, progress: bool = True) -> RunResult:
    """Run the pipeline for ``config`` and publish its outputs atomically.

    The computations go to ``config.scheduler`` (see :func:`fusion.pipeline.cluster.dask_client`;
    by default a Dask LocalCluster in this process, sized to the machine).
    """
    with dask_client(config.scheduler, torch=config.series == "fused"):
        return _run(config, progress=progress)


def _run(config: RunConfig, *, progress: bool) -> RunResult:
    started = dt.datetime.now(dt.UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    stages = Stages(show=progress)
    if config.series == "fused":
        _set_torch_threads()
    with stages.step("aoi"):
        aoi = read_aoi(config.aoi)
        tiles = aoi_grid(aoi, tile_size_m=config.tile_size_m)
    # One run per output folder; taken before staging so a refused run touches nothing.
    held = output_lock.acquire(config.out, run_id=run_id, started=started)
    try:
        return _run_locked(
            config, aoi=aoi, tiles=tiles, run_id=run_id, started=started, stages=stages
        )
    finally:
        output_lock.release(held)


def _run_locked(
    config: RunConfig,
    *,
    aoi: gpd.GeoDataFrame,
    tiles: list[Tile],
    run_id: str,
    started: dt.datetime,
    stages: Stages,
) -> RunResult:
    """The run, with the output folder locked: tiles into staging, then one publish.

    On failure or interruption the staging folder stays: the rerun with the same parameters
    resumes it (finished tiles are not recomputed); a run with other parameters removes it.
    """
    staging = prepare_staging(config.out, config, run_id=run_id, started=started)
    run_id = staging.run_id
    start, end = config.period()
    manifest = RunManifest(
        run_id=run_id,
        status="complete",
        started=staging.started,
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
    previous = _previous_manifest(config.out)
    polygons: list[gpd.GeoDataFrame] = []
    samples: list[pd.DataFrame] = []
    processed = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FusionWarning)
        for index, tile in enumerate(tiles):
            done = staging.load_checkpoint(tile.id) if staging.resumed else None
            if done is not None:
                log.info("tile %s: finished before the interruption, not recomputed", tile.id)
                manifest.warnings.extend(done["warnings"])
            else:
                seen = len(caught)
                done = _process_tile(tile, config, staging, stages, f"{index + 1}/{len(tiles)}")
                if done is None:  # nothing newer than the tile's monitor state
                    _carry_over(manifest, previous, tile.id)
                    continue
                new_warnings = [
                    str(w.message) for w in caught[seen:] if issubclass(w.category, FusionWarning)
                ]
                staging.save_checkpoint(tile.id, **done, warnings=new_warnings)
            processed += 1
            search = done["search"]
            manifest.inputs.extend(search["inputs"])
            manifest.duplicates_dropped.update(search["duplicates_dropped"])
            manifest.search_truncated |= search["truncated"]
            manifest.skipped_assets.extend(search["skipped_assets"])
            manifest.tiles.append(done["record"])
            manifest.new_alerts += done["new_alerts"]
            if done["polygons"] is not None:
                polygons.append(done["polygons"])
            if done["samples"] is not None:
                samples.append(done["samples"])
            for kind, path in done["files"].items():
                _record_output(manifest, staging.folder, path, kind.split(":")[0], tile.id)
        if processed == 0:
            manifest.status = "unchanged"
            manifest.finished = dt.datetime.now(dt.UTC)
            log.info("nothing new since the last run: %s left as it was", config.out)
            shutil.rmtree(staging.folder, ignore_errors=True)
            return RunResult(out=config.out, manifest=manifest)
        merged = merge_tile_polygons(polygons) if polygons else None
        if merged is not None:
            gpkg = append_polygons(merged, config.out / ALERTS_GPKG, staging.folder / ALERTS_GPKG)
            _record_output(manifest, staging.folder, gpkg, "alert_polygons", None)
        for path in write_mosaics(manifest, staging.folder, published=config.out):
            _record_output(manifest, staging.folder, path, "mosaic", None)
        project = write_qgis_project(manifest, staging.folder, published=config.out)
        _record_output(manifest, staging.folder, project, "qgis_project", None)
        with stages.step("report"):
            from fusion.report import write_report  # matplotlib: imported only to draw

            report = write_report(
                staging.folder,
                manifest,
                aoi=aoi,
                polygons=merged,
                samples=samples,
                warnings_so_far=manifest.warnings
                + [str(w.message) for w in caught if issubclass(w.category, FusionWarning)],
                timings_s=stages.timings,
                published=config.out,
            )
        _record_output(manifest, staging.folder, report, "report", None)
        # Last: the catalogue lists every run-level file, the project and report included.
        footprints = {tile.id: tile.geobox.extent for tile in tiles}
        for path in write_output_catalog(manifest, staging.folder, footprints=footprints):
            _record_output(manifest, staging.folder, path, "stac", None)
    # Outside the recording context: showwarning inside it would append to `caught`.
    for warning in caught:
        if issubclass(warning.category, FusionWarning):
            manifest.warnings.append(str(warning.message))
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    manifest.status = "partial" if manifest.skipped_assets else "complete"
    manifest.finished = dt.datetime.now(dt.UTC)
    manifest.timings_s = {k: round(v, 3) for k, v in stages.timings.items()}
    manifest.write(staging.folder / MANIFEST_NAME)
    publish(staging.folder, config.out)
    return RunResult(out=config.out, manifest=manifest)


def _process_tile(
    tile: Tile, config: RunConfig, staging: Staging, stages: Stages, position: str
) -> dict[str, Any] | None:
    """Search, process and stage one tile; its checkpoint fields, or None when the tile's
    monitor state is already up to date with everything the search found."""
    state = load_state(config.out, tile.id, config)
    with stages.step("search"):
        result = search_tile(config, tile, start=search_start(state, config))
        result, skipped = screen_assets(result, on_missing=config.on_missing, tile_id=tile.id)
    if not has_newer(result, state):
        log.info(
            "tile %s (%s): nothing newer than %s",
            tile.id,
            position,
            None if state is None else last_time(state.live),
            extra={"run_id": staging.run_id, "tile": tile.id, "stage": "search"},
        )
        return None
    log.info(
        "tile %s (%s): %s",
        tile.id,
        position,
        _counts(result),
        extra={"run_id": staging.run_id, "tile": tile.id, "stage": "search"},
    )
    forest = None
    if config.forest_mask is not None and state is None:
        forest = load_forest_mask(config.forest_mask, tile.geobox)
    outputs = process_tile(
        tile,
        result,
        config,
        folder=staging.folder / tile.id,
        run_id=staging.run_id,
        stages=stages,
        state=state,
        history=None if state is None else load_history(config.out, tile.id),
        forest_mask=forest,
    )
    files = dict(outputs.files)
    if outputs.state is not None:
        store = state_store(staging.folder)
        store.save(tile.id, outputs.state.assign_attrs(run_attrs(config)))
        files["monitor_state"] = store.path(tile.id)
    if outputs.history is not None:
        files["alert_series_history"] = save_history(outputs.history, staging.folder, tile.id)
    return {
        "record": outputs.record,
        "files": files,
        "polygons": outputs.polygons,
        "samples": outputs.samples,
        "new_alerts": outputs.new_alerts,
        "search": {
            "inputs": [p.to_dict() for p in result.provenance],
            "duplicates_dropped": dict(result.duplicates_dropped),
            "truncated": bool(result.truncated),
            "skipped_assets": skipped,
        },
    }


def _previous_manifest(out: Path) -> RunManifest | None:
    path = out / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return RunManifest.model_validate_json(path.read_text())
    except ValueError:
        return None  # an older or damaged manifest: unchanged tiles are then not listed


def _carry_over(manifest: RunManifest, previous: RunManifest | None, tile_id: str) -> None:
    """List an unchanged tile's outputs from the previous run: the manifest describes the
    whole output folder."""
    if previous is None:
        return
    manifest.tiles.extend(t for t in previous.tiles if t.id == tile_id)
    manifest.outputs.extend(o for o in previous.outputs if o.tile == tile_id)


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


def _counts(result: SearchResult) -> str:
    return ", ".join(f"{len(items)} {sensor}" for sensor, items in result.items.items()) + " scenes"
