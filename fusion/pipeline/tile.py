"""One tile through the data path: load both sensors, check, measure shifts, composite, write.

Everything stays lazy until :func:`process_tile` computes one Dataset holding the composite
and the per-scene range statistics, so every scene is read once.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.xr import rasterize
from rasterio.errors import RasterioIOError
from scipy import ndimage

from fusion.aoi import Tile
from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.catalog.search import SearchResult
from fusion.change.monitor import alerts as state_alerts
from fusion.change.polygons import alert_polygons, apply_mmu, trim_edges
from fusion.composite import harmonized_composite
from fusion.errors import FusionWarning, MonitorInputError, NoScenesError
from fusion.export.alerts import write_alert_rasters
from fusion.export.cog import write_cog
from fusion.export.manifest import TileRecord
from fusion.export.styles import pseudocolor, rgb, write_style
from fusion.ingest.checks import check_physical_range, range_stats
from fusion.ingest.load import load_sensor
from fusion.ingest.shift import measure_shifts
from fusion.pipeline.assets import read_failure
from fusion.pipeline.config import RunConfig
from fusion.pipeline.incremental import TileState, items_after, last_time
from fusion.pipeline.monitoring import MonitorGraph, advance_monitor, monitor_scores, settle_cut
from fusion.pipeline.progress import Stages
from fusion.pipeline.sample_history import next_history, pins, with_history
from fusion.pipeline.samples import (
    Pinned,
    alert_candidates,
    alert_samples,
    observation_sensors,
    pinned_series,
)
from fusion.pipeline.series import dense_index

log = logging.getLogger("fusion.pipeline")


class NoMonitoringWarning(FusionWarning):
    """A tile got no alerts because its period holds too little history; outputs say so."""


class NoClearObservationWarning(FusionWarning):
    """Not one pixel of a tile was seen clear in the period: its outputs are empty (NaN, 0)."""


_PER_ITEM_COORDS = ("item_id", "platform", "dn_scale", "dn_offset")


@dataclass(frozen=True)
class TileOutputs:
    """Files written for one tile (absolute paths inside the staging folder) and its record."""

    files: dict[str, Path]
    record: TileRecord
    polygons: gpd.GeoDataFrame | None = field(default=None)
    """Alert polygons of the tile (None when the monitor could not run)."""
    state: xr.Dataset | None = field(default=None)
    """The tile's monitor states after this run, packed for the state file (computed;
    :meth:`fusion.pipeline.incremental.TileState.pack`; None when the monitor could not run)."""
    new_alerts: int = 0
    """Confirmed alert patches that were not confirmed in the state this run started from."""
    samples: pd.DataFrame | None = field(default=None)
    """The index series at the largest alerts, for the run report, earlier runs' history of
    the same pixels in front (:func:`fusion.pipeline.samples.alert_samples`,
    :func:`fusion.pipeline.sample_history.with_history`; None when the monitor could not run)."""
    history: pd.DataFrame | None = field(default=None)
    """The charted pixels' history for the next run (:mod:`fusion.pipeline.sample_history`)."""


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
    state: TileState | None = None,
    history: pd.DataFrame | None = None,
    forest_mask: xr.DataArray | None = None,
) -> TileOutputs:
    """Load, check and composite one tile, run the monitor, and write its COGs into ``folder``.

    With ``state`` (the tile's monitor states from earlier runs) the acquisitions after its
    settled state are monitored (replayed, late arrivals included) and composited; older
    Sentinel-2 scenes in ``result`` only guide the fusion of Landsat dates. ``history`` (the
    pixels earlier runs charted, :mod:`fusion.pipeline.sample_history`) keeps their charts.
    """
    record = TileRecord(
        id=tile.id,
        crs=str(tile.crs),
        shape=(tile.geobox.height, tile.geobox.width),
        bounds=_bounds(tile),
        scenes={s: len(result.items.get(s) or []) for s in config.sensors},
    )
    with stages.step("ingest"):
        loaded = load_tile(tile, result, config)
    last = None if state is None else last_time(state.settled)
    new = _newer(loaded, last)
    # The series the monitor sees: new Landsat dates, and every Sentinel-2 scene loaded (the
    # older ones guide the fusion; the monitor skips dates it has processed).
    inputs = dict(new)
    if "sentinel2" in loaded:
        inputs["sentinel2"] = loaded["sentinel2"]
    if "landsat" in new and "sentinel2" in new:
        with stages.step("shift"):
            shifts = measure_shifts(
                new["landsat"],
                new["sentinel2"],
                max_days=config.shift_max_days,
                threshold_m=config.shift_threshold_m,
            )
        record.shifts = [s.to_dict() for s in shifts]
    mask = rasterize(tile.geometry, tile.geobox)
    composite = harmonized_composite(
        new.get("landsat"), new.get("sentinel2"), geobox=tile.geobox
    ).where(mask)
    stats = {
        sensor: range_stats(ds["reflectance"]).drop_vars(
            [c for c in _PER_ITEM_COORDS if c in ds.coords]
        )
        for sensor, ds in loaded.items()
    }
    graph, fused, index, sigma = _lazy_monitor(
        inputs,
        tile,
        config,
        settled=None if state is None else state.settled,
        forest_mask=forest_mask,
    )
    alerts = None
    extra: dict[str, xr.DataArray] = {}
    pin_x, pin_y = pins(history)
    if graph is not None:
        alerts = _alert_layers(graph.live, config)
        extra.update({f"alerts:{k}": v for k, v in alerts.data_vars.items()})
        extra.update({f"state:{k}": v for k, v in graph.live.data_vars.items()})
        if graph.settled is not graph.live:
            extra.update({f"settled:{k}": v for k, v in graph.settled.data_vars.items()})
        score = monitor_scores(index, sigma, graph, before=last)
        extra["samples:candidates"] = alert_candidates(alerts, index, sigma, score=score, mask=mask)
        if pin_x.size:
            extra["samples:pinned"] = pinned_series(index, sigma, x=pin_x, y=pin_y, score=score)
    if fused is not None:
        extra["fused:reflectance"] = fused["reflectance"].rename(time="fused:time")
        extra["fused:sigma"] = fused["sigma"].rename(time="fused:time")
        extra["fused:adaptation"] = fused["adaptation"].rename(time="fused:time")
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
    # Restore the warning filters after the compute: dask's threads enter and leave
    # warnings.catch_warnings (xarray's nan reductions), which the warnings docs say is not
    # thread-safe; interleaved, they leave an "ignore" filter behind that swallowed the run's
    # later warnings (the manifest lost them).
    with stages.compute("read + fuse + detect", tile.id), warnings.catch_warnings():
        try:
            computed = bundle.compute()
        except RasterioIOError as exc:
            raise read_failure(exc, result, tile_id=tile.id) from exc
    for sensor, st in stats.items():
        check_physical_range(_sensor_stats(computed, st, loaded[sensor], sensor))
    tags = {"FUSION_RUN": run_id, "FUSION_PERIOD": "{}/{}".format(*config.period())}
    inside = np.asarray(mask.values, dtype=bool)
    polygons = None
    computed_state = None
    new_alerts = 0
    with stages.step("write"):
        files = _write(computed, folder, tags=tags)
        if fused is not None:
            files.update(_write_fused(computed, fused, folder / "fused", tags=tags))
            record.fusion = _adaptation_record(computed, fused)
        if alerts is not None:
            found = _mask_alerts(
                xr.Dataset({name: computed[f"alerts:{name}"] for name in alerts.data_vars}), mask
            )
            files.update(
                write_alert_rasters(found, folder, inside=mask, period=config.period(), tags=tags)
            )
            polygons = alert_polygons(found, sensors=list(loaded), run_id=run_id)
            assert graph is not None
            computed_state = _computed_state(computed, graph.live, prefix="state:")
            settled = computed_state
            if graph.settled is not graph.live:
                settled = _computed_state(computed, graph.settled, prefix="settled:")
            previous = None if state is None else state.live
            new_alerts = _new_confirmed(found, previous, mask=mask, config=config)
            record.alerts = {
                "confirmed_ha": float(polygons.loc[polygons.confidence == 2, "area_ha"].sum()),
                "provisional_ha": float(polygons.loc[polygons.confidence == 1, "area_ha"].sum()),
                "polygons": len(polygons),
            }
    for sensor in ("landsat", "sentinel2"):
        values = computed[f"valid_{sensor}"].values[inside]
        record.valid_observations[sensor] = float(np.median(values)) if values.size else 0.0
    if not any(np.nansum(computed[f"valid_{s}"].values[inside]) for s in ("landsat", "sentinel2")):
        warnings.warn(
            "tile {}: not one clear observation from {} to {} (every scene cloudy, shadowed or "
            "nodata over the AOI); its composite is empty and no alert can be found; widen the "
            "dates".format(tile.id, *config.period()),
            NoClearObservationWarning,
            stacklevel=2,
        )
    samples = None
    if polygons is not None:
        times = index["time"].values
        samples = alert_samples(
            computed["samples:candidates"].values,
            polygons,
            found,
            times=times,
            sensors=observation_sensors(times, inputs, series=config.series),
            tile=tile.id,
            pinned=(
                Pinned(x=pin_x, y=pin_y, series=computed["samples:pinned"].values)
                if "samples:pinned" in computed
                else None
            ),
        )
    packed = kept = None
    if computed_state is not None:
        settled_last = last_time(settled)
        record.monitor = {
            "monitor_start": str(computed_state.attrs["monitor_start"])[:10],
            "previous_last_time": None if state is None else str(last_time(state.live))[:19],
            "replayed_from": None if last is None else str(last)[:19],
            "last_time": str(computed_state.attrs["last_time"])[:19],
            "settled_time": str(settled_last)[:19],
            "new_confirmed_alerts": new_alerts,
        }
        seen = frozenset(items_after(result, settled_last))
        packed = TileState(live=computed_state, settled=settled, seen=seen).pack()
        if samples is not None and settled_last is not None:
            kept = next_history(samples, history, settled=settled_last)
            samples = with_history(samples, history)
    return TileOutputs(
        files=files,
        record=record,
        polygons=polygons,
        state=packed,
        new_alerts=new_alerts,
        samples=samples,
        history=kept,
    )


def _newer(
    loaded: dict[Sensor, xr.Dataset], last: np.datetime64 | None
) -> dict[Sensor, xr.Dataset]:
    """The scenes acquired after ``last`` (all when None), sensors without any left out."""
    if last is None:
        return dict(loaded)
    out: dict[Sensor, xr.Dataset] = {}
    for sensor, ds in loaded.items():
        keep = np.flatnonzero(ds["time"].values > last)
        if keep.size:
            out[sensor] = ds.isel(time=keep)
    return out


def _lazy_monitor(
    inputs: dict[Sensor, xr.Dataset],
    tile: Tile,
    config: RunConfig,
    *,
    settled: xr.Dataset | None,
    forest_mask: xr.DataArray | None,
) -> tuple[MonitorGraph | None, xr.Dataset | None, xr.DataArray, xr.DataArray]:
    """Lazy ``(monitor graph, fused series, dense index, its sigma)`` of the tile.

    A new state starts from the series when ``settled`` is None; else ``settled`` advances
    by the acquisitions after its ``last_time`` (:mod:`fusion.pipeline.monitoring`). The
    graph is None when the series holds too little history to start a state.
    """
    index, sigma, fused = dense_index(
        inputs,
        geobox=tile.geobox,
        series=config.series,
        guide_window_days=config.guide_window_days,
        guide_lookahead_days=config.guide_lookahead_days,
    )
    try:
        graph = advance_monitor(
            index,
            sigma,
            settled=settled,
            cut=settle_cut(index["time"].values, config.late_days),
            monitor_start=str(config.resolved_monitor_start()),
            forest_mask=forest_mask,
            params=config.monitor,
        )
    except MonitorInputError as exc:
        warnings.warn(
            f"tile {tile.id}: no alerts ({exc}); start the period earlier to give the "
            "monitor a history",
            NoMonitoringWarning,
            stacklevel=2,
        )
        return None, fused, index, sigma
    return graph, fused, index, sigma


def _computed_state(computed: xr.Dataset, lazy: xr.Dataset, *, prefix: str) -> xr.Dataset:
    """The state's variables out of the computed bundle, with the state's coords and attrs."""
    state = xr.Dataset(
        {name: computed[f"{prefix}{name}"] for name in lazy.data_vars}, attrs=dict(lazy.attrs)
    )
    return state.drop_vars([c for c in state.coords if c not in lazy.coords])


def _alert_layers(state: xr.Dataset, config: RunConfig) -> xr.Dataset:
    """The alert layers of a monitor state: edges trimmed, then the minimum mapping unit."""
    trimmed = trim_edges(state_alerts(state), share=config.edge_share)
    return apply_mmu(trimmed, min_area_ha=config.mmu_ha)


def _new_confirmed(
    found: xr.Dataset, previous: xr.Dataset | None, *, mask: xr.DataArray, config: RunConfig
) -> int:
    """Confirmed alert patches (8-connected, as the polygons) holding a pixel that the state
    ``previous`` had not confirmed: what a scheduler is told is new."""
    now = np.asarray(found["confidence"].transpose("y", "x").values) == 2
    before = np.zeros_like(now)
    if previous is not None:
        old = _mask_alerts(_alert_layers(previous, config), mask)
        before = np.asarray(old["confidence"].transpose("y", "x").values) == 2
    labels, _ = ndimage.label(now, structure=np.ones((3, 3), bool))
    return int(np.unique(labels[now & ~before]).size)


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


def _adaptation_record(computed: xr.Dataset, fused: xr.Dataset) -> list[dict[str, Any]]:
    """Per fused Landsat date, how the network adapted to it (:mod:`fusion.model.adapt`)."""
    values = computed["fused:adaptation"].values
    names = list(computed["fused:adaptation"]["estimate"].values)
    rows = []
    for i, item_id in enumerate(str(v) for v in fused["item_id"].values):
        est = dict(zip(names, values[i].tolist(), strict=True))
        shift = [est["guide_shift_row"], est["guide_shift_col"]]
        scale = [est[n] for n in names if n.startswith("sigma_scale_")]
        adapted = all(np.isfinite(shift))
        rows.append(
            {
                "item_id": item_id,
                "date": str(fused["time"].values[i])[:10],
                # Rows and columns of the Landsat grid; None: no guide, nothing adapted.
                "guide_shift_px": [round(v, 3) for v in shift] if adapted else None,
                "readout": (
                    None if not adapted else "refitted" if np.isfinite(scale).all() else "learnt"
                ),
                "sigma_scale": (
                    dict(zip(CANONICAL_BANDS, (round(v, 3) for v in scale), strict=True))
                    if np.isfinite(scale).all()
                    else None
                ),
            }
        )
    return rows


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
