"""``report.html``: the run at a glance, written beside its outputs.

Each section is drawn on its own; a section that fails becomes a note in the page and a
:class:`ReportWarning` (which the runner records in the manifest), so a chart never fails a
run, and never fails silently either.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rasterio.warp import transform_bounds
from shapely.geometry.base import BaseGeometry

from fusion.errors import FusionWarning
from fusion.export.atomic import atomic_path
from fusion.export.manifest import RunManifest
from fusion.report import charts
from fusion.report.data import (
    header,
    history_stats,
    monitor_params,
    monthly_alerts,
    score_thresholds,
    shift_summary,
    shift_table,
    top_alerts,
)
from fusion.report.html import Section, render
from fusion.report.rasters import Layer, median_of, rgb_quicklook, tile_px, values_inside

REPORT_NAME = "report.html"
TOP_ALERTS = 3
_NIR_SIGMA_BAND = 4  # nir08 in the fused sigma COGs (canonical band order)


class ReportWarning(FusionWarning):
    """A section of the run report could not be drawn; the report says which and why."""


class _Context:
    """The run as the sections see it: the manifest, the folder and the vectors in one CRS."""

    def __init__(
        self,
        folder: Path,
        manifest: RunManifest,
        *,
        aoi: gpd.GeoDataFrame | None,
        polygons: gpd.GeoDataFrame | None,
        samples: pd.DataFrame | None,
        published: Path | None,
    ) -> None:
        self.folder = folder
        self.published = published
        self.manifest = manifest
        self.crs = manifest.tiles[0].crs if manifest.tiles else "EPSG:4326"
        self.aoi = None if aoi is None else aoi.to_crs(self.crs)
        self.polygons = None if polygons is None else polygons.to_crs(self.crs)
        self.raw_polygons = polygons
        self.samples = samples
        self.params = manifest.parameters

    def outputs(self, kind: str) -> list[tuple[str, Path]]:
        """(tile, absolute path) of every output of ``kind``: in the folder, or published by
        an earlier run (the tiles an incremental run left unchanged)."""
        found = []
        for o in self.manifest.outputs:
            if o.kind != kind:
                continue
            path = self.folder / o.path
            if not path.exists() and self.published is not None:
                path = self.published / o.path
            found.append((o.tile or "", path))
        return found

    def tile_crs(self, tile: str) -> str:
        return next((t.crs for t in self.manifest.tiles if t.id == tile), self.crs)

    def in_map_crs(self, layer: Layer) -> Layer:
        """``layer`` placed in the map CRS (tiles of another UTM zone: bounds only, approx.)."""
        if layer.crs == self.crs:
            return layer
        left, bottom, right, top = transform_bounds(
            layer.crs, self.crs, layer.extent[0], layer.extent[2], layer.extent[1], layer.extent[3]
        )
        return Layer(data=layer.data, extent=(left, right, bottom, top), crs=self.crs)


def write_report(
    folder: Path,
    manifest: RunManifest,
    *,
    aoi: gpd.GeoDataFrame | None = None,
    polygons: gpd.GeoDataFrame | None = None,
    samples: pd.DataFrame | list[pd.DataFrame] | None = None,
    warnings_so_far: list[str] | None = None,
    timings_s: dict[str, float] | None = None,
    published: Path | None = None,
) -> Path:
    """Write ``folder/report.html`` for ``manifest``'s run; returns its path.

    ``folder`` holds the outputs listed in ``manifest.outputs`` (the staging folder, before
    publishing); ``polygons`` are this run's alerts (None when the monitor did not run),
    ``samples`` the series at the largest alerts (:mod:`fusion.pipeline.samples`; one frame
    or one per tile); outputs missing from ``folder`` are read from ``published`` (the output
    folder, for tiles an incremental run carried over).
    """
    t0 = time.perf_counter()
    if isinstance(samples, list):
        frames = [f for f in samples if f is not None and not f.empty]
        samples = pd.concat(frames, ignore_index=True) if frames else None
    ctx = _Context(
        folder, manifest, aoi=aoi, polygons=polygons, samples=samples, published=published
    )
    sections = [
        _guarded("map", "AOI map", _map_section, ctx),
        _guarded("alerts", "Alerts by month", _alerts_section, ctx),
        _guarded("series", "Largest alerts: index series", _series_section, ctx),
        _guarded("valid", "Valid observations per pixel", _valid_section, ctx),
        _guarded("shifts", "Landsat / Sentinel-2 shifts", _shift_section, ctx),
        _guarded("sigma", "Fusion uncertainty (sigma)", _sigma_section, ctx),
    ]
    timings = dict(timings_s or manifest.timings_s)
    timings["report"] = time.perf_counter() - t0
    page = render(
        header(manifest, warnings=warnings_so_far or [], timings_s=timings),
        sections,
        version=manifest.versions.get("fusion", ""),
    )
    target = folder / REPORT_NAME
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def _guarded(
    id_: str, title: str, build: Callable[[_Context, Section], None], ctx: _Context
) -> Section:
    section = Section(id=id_, title=title)
    try:
        build(ctx, section)
    except Exception as exc:  # a chart must not fail the run; it is reported instead
        message = f"run report: section {title!r} could not be drawn ({type(exc).__name__}: {exc})"
        warnings.warn(message, ReportWarning, stacklevel=2)
        section.images.clear()
        section.notes.append(message)
    return section


def _png(fig: Figure) -> str:
    return charts.data_uri(fig)


def _map_section(ctx: _Context, section: Section) -> None:
    paths = [path for _, path in ctx.outputs("composite")]
    size = tile_px(len(paths))
    layers = [ctx.in_map_crs(rgb_quicklook(path, max_px=size)) for path in paths]
    if not layers:
        section.notes.append("No composite was written.")
        return
    section.notes.append(
        "Median composite (red, green, blue) of each tile, with the AOI outline and this run's "
        "alert polygons (confirmed red, provisional amber)."
    )
    section.images.append(_png(charts.aoi_map(layers, aoi=ctx.aoi, polygons=ctx.polygons)))


def _alerts_section(ctx: _Context, section: Section) -> None:
    if ctx.raw_polygons is None:
        section.notes.append("The monitor did not run (too little history): no alerts.")
        return
    start = pd.Timestamp(ctx.params.get("monitor_start") or ctx.manifest.period[0])
    table = monthly_alerts(ctx.raw_polygons, months=(start, pd.Timestamp(ctx.manifest.period[1])))
    if table["total_count"].sum() == 0:
        section.notes.append("No alerts in this run.")
        return
    section.notes.append("Alert polygons by month of their first anomalous date and by confidence.")
    shown = table[table["total_count"] > 0].copy()  # the chart shows the quiet months
    shown.loc["total"] = table.sum(numeric_only=True)
    shown = shown.reset_index()
    shown.columns = pd.Index([c.replace("_", " ") for c in shown.columns])
    section.tables.append(
        shown.to_html(
            index=False,
            classes="alerts",
            float_format=lambda v: f"{v:.2f}",
            formatters={c: lambda v: str(int(v)) for c in shown.columns if c.endswith("count")},
            border=0,
        )
    )
    section.images.append(_png(charts.monthly_chart(table)))


def _series_section(ctx: _Context, section: Section) -> None:
    if ctx.raw_polygons is None:
        section.notes.append("The monitor did not run: no alert series.")
        return
    tops = top_alerts(ctx.samples, top_n=TOP_ALERTS)
    if not tops:
        section.notes.append("No alerts in this run.")
        return
    monitor = dict(ctx.params.get("monitor") or {})
    start = pd.Timestamp(ctx.params.get("monitor_start"))
    thresholds = score_thresholds(monitor)
    params = monitor_params(monitor)
    what = (
        "self-referenced NBR (minus the median of stable forest within about 1 km on the same date)"
        if monitor.get("self_reference", True)
        else "NBR"
    )
    section.notes.append(
        "NBR at one pixel of each of the largest alerts, by sensor, with each observation's "
        "sigma as error bars; the grey band is that pixel's history median ± 1.4826·MAD of "
        "the NBR shown. Under it, the monitor's own score of each observation since monitor "
        f"start: z = (x − m) / sqrt(s² + σ²), where x is the {what}, m and s the median and "
        "spread (1.4826·MAD, floored) of the pixel's history of it, and σ the observation's "
        "sigma. A score at or below the threshold starts an alert; it is "
        "confirmed by enough later scores at or below the agree threshold"
        + (
            f", or by one score at or below {params.spatial_threshold:g} within "
            f"{params.grow_m:g} m of pixels that confirmed themselves"
            if params.grow_m
            else ""
        )
        + ". The monitor stops scoring a pixel once its alert is confirmed; later scores are "
        "shown for context."
    )
    fused = ctx.params.get("series") == "fused"
    period = (pd.Timestamp(ctx.manifest.period[0]), pd.Timestamp(ctx.manifest.period[1]))
    for rank, series in enumerate(tops, start=1):
        first = series.iloc[0]
        kind = {1: "provisional", 2: "confirmed"}.get(int(first["confidence"]), "")
        title = (
            f"Alert {rank}: {first['area_ha']:.2f} ha, {kind}, tile {first['tile']}, "
            f"pixel x={first['x']:.0f} y={first['y']:.0f}"
        )
        stats = history_stats(series, monitor_start=start, monitor=monitor)
        fig = charts.series_chart(
            series,
            stats,
            monitor_start=start,
            fused=fused,
            title=title,
            thresholds=thresholds,
            period=period,
        )
        section.images.append(_png(fig))


def _valid_section(ctx: _Context, section: Section) -> None:
    sensors = [str(s) for s in ctx.params.get("sensors", [])]
    names = {"landsat": "Landsat", "sentinel2": "Sentinel-2"}
    counts: dict[str, list[np.ndarray]] = {}
    for tile, path in ctx.outputs("valid_observations"):
        shape = _aoi_in(ctx, tile)
        for band, sensor in ((1, "landsat"), (2, "sentinel2")):
            if sensor in sensors:
                counts.setdefault(f"clear {names[sensor]}", []).append(
                    values_inside(path, shape, band=band)
                )
    for tile, path in ctx.outputs("valid_count"):
        counts.setdefault("series since monitor start", []).append(
            values_inside(path, _aoi_in(ctx, tile))
        )
    if not counts:
        section.notes.append("No valid-observation layers were written.")
        return
    merged = {k: np.concatenate(v).astype(float) for k, v in counts.items()}
    section.notes.append(
        "Clear observations per pixel inside the AOI: per sensor over the whole period "
        "(valid_observations.tif), and of the monitored series since monitor start "
        "(valid_count.tif)."
    )
    section.images.append(_png(charts.count_histograms(merged)))


def _aoi_in(ctx: _Context, tile: str) -> BaseGeometry | None:
    """The AOI as one geometry in ``tile``'s CRS (None without an AOI)."""
    if ctx.aoi is None or ctx.aoi.empty:
        return None
    return ctx.aoi.to_crs(ctx.tile_crs(tile)).union_all()


def _shift_section(ctx: _Context, section: Section) -> None:
    shifts = shift_table(ctx.manifest)
    if shifts.empty:
        sensors = ctx.params.get("sensors") or []
        if "landsat" in sensors and "sentinel2" in sensors:
            why = (
                f"no pair within {ctx.params.get('shift_max_days', '?')} days had enough clear "
                "pixels in common"
            )
        else:
            why = f"the {ctx.params.get('series')!r} series loads one sensor"
        section.notes.append(f"No Landsat/Sentinel-2 pairs measured: {why}.")
        return
    threshold = float(ctx.params.get("shift_threshold_m", 10.0))
    summary = shift_summary(shifts, threshold_m=threshold)
    table = pd.DataFrame([summary]).rename(
        columns={
            "pairs": "pairs",
            "median_m": "median |shift| (m)",
            "p90_m": "90th pct (m)",
            "mean_dx_m": "mean dx (m)",
            "mean_dy_m": "mean dy (m)",
            "over_threshold": f"over {threshold:g} m",
        }
    )
    section.tables.append(table.to_html(index=False, float_format=lambda v: f"{v:.1f}", border=0))
    section.images.append(_png(charts.shift_chart(shifts, threshold_m=threshold)))


def _sigma_section(ctx: _Context, section: Section) -> None:
    if ctx.params.get("series") != "fused":
        section.notes.append("Only the fused series has a fusion sigma.")
        return
    by_tile: dict[str, list[Path]] = {}
    for tile, path in ctx.outputs("fused_sigma"):
        by_tile.setdefault(tile, []).append(path)
    size = tile_px(len(by_tile))
    layers = [
        ctx.in_map_crs(layer)
        for paths in by_tile.values()
        if (layer := median_of(sorted(paths), band=_NIR_SIGMA_BAND, max_px=size)) is not None
    ]
    if not layers:
        section.notes.append("No fused dates were written.")
        return
    section.notes.append(
        "Median over the fused Landsat dates of the network's NIR (nir08) sigma: where the "
        "fused 10 m detail is least certain."
    )
    fig = charts.value_map(layers, aoi=ctx.aoi, label="median NIR sigma (reflectance)")
    section.images.append(_png(fig))
