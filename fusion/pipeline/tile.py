"""One tile through the data path: load both sensors, check, measure shifts, composite, write.

Everything stays lazy until :func:`process_tile` computes one Dataset holding the composite
and the per-scene range statistics, so every scene is read once.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo.xr import rasterize

from fusion.aoi import Tile
from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.catalog.search import SearchResult
from fusion.change.detect import detect
from fusion.change.polygons import alert_polygons, apply_mmu
from fusion.composite import harmonized_composite
from fusion.errors import FusionWarning, MonitorInputError, NoScenesError
from fusion.export.alerts import write_alert_rasters
from fusion.export.cog import write_cog
from fusion.export.manifest import TileRecord
from fusion.export.styles import pseudocolor, rgb, write_style
from fusion.ingest.checks import check_physical_range, range_stats
from fusion.ingest.load import load_sensor
from fusion.ingest.shift import measure_shifts
from fusion.pipeline.config import RunConfig
from fusion.pipeline.progress import Stages
from fusion.pipeline.series import dense_index

log = logging.getLogger("fusion.pipeline")


class NoMonitoringWarning(FusionWarning):
    """A tile got no alerts because its period holds too little history; outputs say so."""


_PER_ITEM_COORDS = ("item_id", "platform", "dn_scale", "dn_offset")


@dataclass(frozen=True)
class TileOutputs:
    """Files written for one tile (absolute paths inside the staging folder) and its record."""

    files: dict[str, Path]
    record: TileRecord
    polygons: gpd.GeoDataFrame | None = field(default=None)
    """Alert polygons of the tile (None when the monitor could not run)."""


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
    with stages.step("ingest"):
        loaded = load_tile(tile, result, config)
    if "landsat" in loaded and "sentinel2" in loaded:
        with stages.step("shift"):
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
    alerts, fused = _lazy_alerts(loaded, tile, config)
    extra: dict[str, xr.DataArray] = {}
    if alerts is not None:
        extra.update({f"alerts:{k}": v for k, v in alerts.data_vars.items()})
    if fused is not None:
        extra["fused:reflectance"] = fused["reflectance"].rename(time="fused:time")
        extra["fused:sigma"] = fused["sigma"].rename(time="fused:time")
    # One compute for the checks, the composite, the fused series and the alerts, so the
    # scenes are read once, and of a single Dataset: dask 2026.8 loses keys when several
    # collections that share odc-stac subgraphs are optimised together ("Missing dependency").
    bundle = composite.merge(
        {
            **{
                f"{sensor}:{name}": var.rename(time=f"{sensor}:time")
                for sensor, st in stats.items()
                for name, var in st.data_vars.items()
            },
            **extra,
        },
        compat="no_conflicts",  # the names never overlap; explicit for xarray's FutureWarning
    )
    with stages.compute("read + fuse + detect", tile.id):
        computed = bundle.compute()
    for sensor, st in stats.items():
        check_physical_range(_sensor_stats(computed, st, loaded[sensor], sensor))
    tags = {"FUSION_RUN": run_id, "FUSION_PERIOD": "{}/{}".format(*config.period())}
    inside = np.asarray(mask.values, dtype=bool)
    polygons = None
    with stages.step("write"):
        files = _write(computed, folder, tags=tags)
        if fused is not None:
            files.update(_write_fused(computed, fused, folder / "fused", tags=tags))
        if alerts is not None:
            found = _mask_alerts(
                xr.Dataset({name: computed[f"alerts:{name}"] for name in alerts.data_vars}), mask
            )
            files.update(
                write_alert_rasters(found, folder, inside=mask, period=config.period(), tags=tags)
            )
            polygons = alert_polygons(found, sensors=list(loaded), run_id=run_id)
            record.alerts = {
                "confirmed_ha": float(polygons.loc[polygons.confidence == 2, "area_ha"].sum()),
                "provisional_ha": float(polygons.loc[polygons.confidence == 1, "area_ha"].sum()),
                "polygons": len(polygons),
            }
    for sensor in ("landsat", "sentinel2"):
        values = computed[f"valid_{sensor}"].values[inside]
        record.valid_observations[sensor] = float(np.median(values)) if values.size else 0.0
    return TileOutputs(files=files, record=record, polygons=polygons)


def _lazy_alerts(
    loaded: dict[Sensor, xr.Dataset], tile: Tile, config: RunConfig
) -> tuple[xr.Dataset | None, xr.Dataset | None]:
    """The monitor's lazy output on the dense series (None when history is too short)."""
    index, sigma, fused = dense_index(
        loaded, geobox=tile.geobox, series=config.series, guide_window_days=config.guide_window_days
    )
    try:
        alerts = detect(
            index, monitor_start=str(config.resolved_monitor_start()), sigma=sigma, **config.monitor
        )
    except MonitorInputError as exc:
        warnings.warn(
            f"tile {tile.id}: no alerts ({exc}); start the period earlier to give the monitor "
            "a history",
            NoMonitoringWarning,
            stacklevel=2,
        )
        return None, fused
    return apply_mmu(alerts, min_area_ha=config.mmu_ha), fused


def _mask_alerts(alerts: xr.Dataset, mask: xr.DataArray) -> xr.Dataset:
    out = alerts.copy()
    out["confidence"] = alerts["confidence"].where(mask, 0).astype("uint8")
    for name in ("alert_date", "confirmed_date", "magnitude"):
        out[name] = alerts[name].where(mask)
    return out


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


def _write(computed: xr.Dataset, folder: Path, *, tags: dict[str, str]) -> dict[str, Path]:
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
    write_style(rgb(red=3, green=2, blue=1, maxima=(0.08, 0.1, 0.06)), composite)
    write_style(
        pseudocolor([(0.0, "#d7191c", "0"), (10.0, "#ffffbf", "10"), (40.0, "#1a9641", "40")]),
        valid,
    )
    return {"composite": composite, "valid_observations": valid}


def _write_fused(
    computed: xr.Dataset, fused: xr.Dataset, folder: Path, *, tags: dict[str, str]
) -> dict[str, Path]:
    """One reflectance and one sigma COG per fused Landsat date."""
    files: dict[str, Path] = {}
    reflectance = computed["fused:reflectance"].rename({"fused:time": "time"})
    sigma = computed["fused:sigma"].rename({"fused:time": "time"})
    for i, item_id in enumerate(str(v) for v in fused["item_id"].values):
        name = _safe_name(item_id)
        date_tags = {
            **tags,
            "FUSION_ITEM": item_id,
            "FUSION_DATE": str(fused["time"].values[i])[:10],
        }
        path = write_cog(
            reflectance.isel(time=i, drop=True),
            folder / f"{name}.tif",
            nodata=float("nan"),
            band_names=list(CANONICAL_BANDS),
            units="reflectance",
            tags=date_tags,
        )
        write_style(rgb(red=3, green=2, blue=1, maxima=(0.08, 0.1, 0.06)), path)
        files[f"fused:{item_id}"] = path
        path = write_cog(
            sigma.isel(time=i, drop=True),
            folder / f"{name}_sigma.tif",
            nodata=float("nan"),
            band_names=[f"sigma {b}" for b in CANONICAL_BANDS],
            units="reflectance",
            tags=date_tags,
        )
        write_style(
            pseudocolor(
                [(0.0, "#f7fbff", "0"), (0.01, "#6baed6", "0.01"), (0.03, "#08306b", "0.03")]
            ),
            path,
        )
        files[f"fused_sigma:{item_id}"] = path
    return files


def _safe_name(item_id: str) -> str:
    """A file name from an item id: no item id may write outside the output folder."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id).strip(".")
    return cleaned or "item"


def _bounds(tile: Tile) -> tuple[float, float, float, float]:
    left, bottom, right, top = tile.geobox.extent.boundingbox.bbox
    return float(left), float(bottom), float(right), float(top)
