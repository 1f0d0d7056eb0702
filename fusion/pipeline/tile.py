"""One tile through the data path: load both sensors, check, measure shifts, composite, write.

Everything stays lazy until :func:`process_tile` computes one Dataset holding the composite
and the per-scene range statistics, so every scene is read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from odc.geo.xr import rasterize

from fusion.aoi import Tile
from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.catalog.search import SearchResult
from fusion.composite import harmonized_composite
from fusion.errors import NoScenesError
from fusion.export.cog import write_cog
from fusion.export.manifest import TileRecord
from fusion.ingest.checks import check_physical_range, range_stats
from fusion.ingest.load import load_sensor
from fusion.ingest.shift import measure_shifts
from fusion.pipeline.config import RunConfig
from fusion.pipeline.progress import Stages

_PER_ITEM_COORDS = ("item_id", "platform", "dn_scale", "dn_offset")


@dataclass(frozen=True)
class TileOutputs:
    """Files written for one tile (absolute paths inside the staging folder) and its record."""

    files: dict[str, Path]
    record: TileRecord


def load_tile(tile: Tile, result: SearchResult, config: RunConfig) -> dict[Sensor, xr.Dataset]:
    """Lazy harmonised reflectance per sensor: Landsat on the 30 m grid, Sentinel-2 on 10 m."""
    loaded: dict[Sensor, xr.Dataset] = {}
    for sensor in config.sensors:
        items = result.items.get(sensor) or []
        if not items:
            continue
        loaded[sensor] = load_sensor(
            items,
            result.bands,
            geobox=tile.geobox30 if sensor == "landsat" else tile.geobox,
            chunks={"x": config.chunk_px, "y": config.chunk_px},
            mask_buffer_m=config.mask_buffer_m,
            patch_url=result.patch_url,
        )
    if not loaded:
        start, end = config.period()
        raise NoScenesError(
            f"tile {tile.id}: no scenes from source {config.source!r} between {start} and {end} "
            "under the cloud-cover limit; widen the dates or raise --max-cloud"
        )
    return loaded


def process_tile(
    tile: Tile,
    result: SearchResult,
    config: RunConfig,
    *,
    folder: Path,
    run_id: str,
    stages: Stages,
) -> TileOutputs:
    """Load, check and composite one tile, and write its COGs into ``folder``."""
    record = TileRecord(
        id=tile.id,
        crs=str(tile.crs),
        shape=(tile.geobox.height, tile.geobox.width),
        bounds=_bounds(tile),
        scenes={s: len(result.items.get(s) or []) for s in config.sensors},
    )
    with stages.step("ingest", tile.id):
        loaded = load_tile(tile, result, config)
    if "landsat" in loaded and "sentinel2" in loaded:
        with stages.step("shift", tile.id):
            shifts = measure_shifts(
                loaded["landsat"],
                loaded["sentinel2"],
                max_days=config.shift_max_days,
                threshold_m=config.shift_threshold_m,
            )
        record.shifts = [s.to_dict() for s in shifts]
    mask = rasterize(tile.geometry, tile.geobox)
    composite = harmonized_composite(
        loaded.get("landsat"), loaded.get("sentinel2"), geobox=tile.geobox
    ).where(mask)
    stats = {
        sensor: range_stats(ds["reflectance"]).drop_vars(
            [c for c in _PER_ITEM_COORDS if c in ds.coords]
        )
        for sensor, ds in loaded.items()
    }
    # One compute for the checks and the composite, so the scenes are read once, and of a
    # single Dataset: dask 2026.8 loses keys when several collections that share odc-stac
    # subgraphs are optimised together ("Missing dependency ... astype").
    bundle = composite.merge(
        {
            f"{sensor}:{name}": var.rename(time=f"{sensor}:time")
            for sensor, st in stats.items()
            for name, var in st.data_vars.items()
        },
        compat="no_conflicts",  # the per-sensor names never overlap; explicit for xarray's FutureWarning
    )
    with stages.compute("read + composite", tile.id):
        computed = bundle.compute()
    for sensor, st in stats.items():
        check_physical_range(_sensor_stats(computed, st, loaded[sensor], sensor))
    with stages.step("write", tile.id):
        files = _write(computed, folder, run_id=run_id, period=config.period())
    inside = np.asarray(mask.values, dtype=bool)
    for sensor in ("landsat", "sentinel2"):
        values = computed[f"valid_{sensor}"].values[inside]
        record.valid_observations[sensor] = float(np.median(values)) if values.size else 0.0
    return TileOutputs(files=files, record=record)


def _sensor_stats(
    computed: xr.Dataset, lazy: xr.Dataset, loaded: xr.Dataset, sensor: str
) -> xr.Dataset:
    """The computed range statistics of one sensor, with the item ids put back."""
    return xr.Dataset(
        {
            name: computed[f"{sensor}:{name}"].rename({f"{sensor}:time": "time"})
            for name in lazy.data_vars
        },
        coords={
            "item_id": ("time", loaded["item_id"].values),
            "dn_offset": ("time", loaded["dn_offset"].values),
        },
        attrs=lazy.attrs,
    )


def _write(computed: xr.Dataset, folder: Path, *, run_id: str, period: tuple) -> dict[str, Path]:
    tags = {"FUSION_RUN": run_id, "FUSION_PERIOD": f"{period[0]}/{period[1]}"}
    composite = write_cog(
        computed["reflectance"].astype("float32"),
        folder / "composite.tif",
        nodata=float("nan"),
        band_names=list(CANONICAL_BANDS),
        units="reflectance",
        tags=tags,
    )
    counts = (
        xr.concat([computed["valid_landsat"], computed["valid_sentinel2"]], dim="band")
        .fillna(0)
        .astype("uint16")
        .assign_coords(band=["landsat", "sentinel2"])
    )
    valid = write_cog(
        counts,
        folder / "valid_observations.tif",
        nodata=None,
        band_names=["clear Landsat observations", "clear Sentinel-2 observations"],
        overview_resampling="nearest",
        tags=tags,
    )
    return {"composite": composite, "valid_observations": valid}


def _bounds(tile: Tile) -> tuple[float, float, float, float]:
    left, bottom, right, top = tile.geobox.extent.boundingbox.bbox
    return float(left), float(bottom), float(right), float(top)
