"""The report's charts as PNG data URIs, drawn with matplotlib's Agg canvas.

Figures are made with :class:`matplotlib.figure.Figure` on an explicit Agg canvas, never
through ``pyplot``: no global backend switch, no figure registry to leak, safe in a worker
thread and in a notebook that uses another backend.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fusion.export.styles import ALERT_CLASSES
from fusion.report.data import History
from fusion.report.rasters import Layer

COLOURS = {label: colour for _, label, colour, _ in ALERT_CLASSES[1:]}
"""Alert colours: the confidence layer's own (provisional amber, confirmed red)."""
SENSOR_STYLE = {"landsat": ("#1f5fa8", "o"), "sentinel2": ("#2a9d3c", "s")}
DPI = 96


def figure(width: float, height: float, *, margins: dict[str, float]) -> Figure:
    """A figure on an Agg canvas (inches), with fixed margins (``subplots_adjust``): matplotlib's
    layout engines would take a third of the report's time."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(**margins)
    return fig


def data_uri(fig: Figure) -> str:
    """The figure as a base64 PNG ``data:`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _overlay(ax: object, aoi: gpd.GeoDataFrame | None, polygons: gpd.GeoDataFrame | None) -> None:
    if aoi is not None and not aoi.empty:
        aoi.boundary.plot(ax=ax, color="white", linewidth=2.2)
        aoi.boundary.plot(ax=ax, color="black", linewidth=1.0, linestyle="--")
    if polygons is None or polygons.empty:
        return
    for value, _, colour, _ in ALERT_CLASSES[1:]:
        part = polygons[polygons["confidence"] == value]
        if not part.empty:
            part.plot(ax=ax, facecolor=colour + "55", edgecolor=colour, linewidth=1.2)


def aoi_map(
    tiles: Sequence[Layer],
    *,
    aoi: gpd.GeoDataFrame | None,
    polygons: gpd.GeoDataFrame | None,
) -> Figure:
    """Quicklooks of the tiles with the AOI outline and the alert polygons (one CRS)."""
    fig = figure(7.5, 7.0, margins={"left": 0.12, "right": 0.97, "bottom": 0.08, "top": 0.98})
    ax = fig.add_subplot()
    for layer in tiles:
        ax.imshow(layer.data, extent=layer.extent, interpolation="nearest")
    _overlay(ax, aoi, polygons)
    handles = [Patch(facecolor=COLOURS[n] + "55", edgecolor=COLOURS[n], label=n) for n in COLOURS]
    handles.append(Patch(facecolor="none", edgecolor="black", linestyle="--", label="AOI"))
    ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.85)
    ax.set_xlabel(f"easting (m, {tiles[0].crs})" if tiles else "easting (m)")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    return fig


def monthly_chart(table: pd.DataFrame) -> Figure:
    """Stacked bars of alert count and area by month of first alert date."""
    margins = {"left": 0.08, "right": 0.98, "bottom": 0.24, "top": 0.96, "wspace": 0.25}
    fig = figure(7.5, 3.4, margins=margins)
    count_ax, area_ax = fig.subplots(1, 2)
    x = np.arange(len(table))
    for ax, what, label in ((count_ax, "count", "alerts"), (area_ax, "ha", "area (ha)")):
        bottom = np.zeros(len(table))
        for name in ("confirmed", "provisional"):
            values = table[f"{name}_{what}"].to_numpy(float)
            ax.bar(x, values, bottom=bottom, color=COLOURS[name], label=name)
            bottom += values
        ax.set_xticks(x, table.index, rotation=45, ha="right", fontsize="small")
        ax.set_ylabel(label)
    count_ax.legend(fontsize="small")
    return fig


def series_chart(
    series: pd.DataFrame,
    history: History,
    *,
    monitor_start: pd.Timestamp,
    fused: bool,
    title: str,
    thresholds: tuple[float, float] | None = None,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> Figure:
    """The index at one alert pixel by sensor (±sigma) with the history median ± spread and,
    in a panel under it, the monitor's score of each observation (column ``score``, when any)
    with ``thresholds`` (threshold, agree threshold); monitor start, first alert and
    confirmation dates on both panels."""
    scored = "score" in series.columns and bool(series["score"].notna().any())
    if scored:
        margins = {"left": 0.1, "right": 0.74, "bottom": 0.06, "top": 0.94, "hspace": 0.08}
        fig = figure(7.5, 5.2, margins=margins)
        ax, zax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    else:
        fig = figure(7.5, 3.2, margins={"left": 0.08, "right": 0.74, "bottom": 0.1, "top": 0.9})
        ax, zax = fig.add_subplot(), None
    for sensor, part in series.groupby("sensor", sort=True):
        colour, marker = SENSOR_STYLE.get(str(sensor), ("#555555", "^"))
        label = "Landsat (fused 10 m)" if sensor == "landsat" and fused else str(sensor)
        label = {"landsat": "Landsat", "sentinel2": "Sentinel-2"}.get(label, label)
        ax.errorbar(
            part["time"],
            part["value"],
            yerr=part["sigma"].fillna(0),
            fmt=marker,
            color=colour,
            markersize=4,
            elinewidth=0.8,
            capsize=0,
            label=label,
        )
        if zax is not None:
            zax.plot(part["time"], part["score"], marker, color=colour, markersize=4)
    if history.count:
        ax.axhline(history.median, color="#444444", linewidth=1, label="history median")
        ax.axhspan(
            history.median - history.spread,
            history.median + history.spread,
            color="#999999",
            alpha=0.25,
            label="± history spread",
        )
    first = series["alert_date"].iloc[0] if len(series) else pd.NaT
    confirmed = series["confirmed_date"].iloc[0] if len(series) else pd.NaT
    for axis in (ax, zax):
        if axis is None:
            continue
        labelled = axis is ax  # one legend entry per date line
        for when, colour, style, width, label in (
            (monitor_start, "#777777", "--", 1.0, "monitor start"),
            (first, COLOURS["provisional"], "-", 1.5, "first alert"),
            (confirmed, COLOURS["confirmed"], "-", 1.5, "confirmed"),
        ):
            if pd.notna(when):
                axis.axvline(
                    when,
                    color=colour,
                    linestyle=style,
                    linewidth=width,
                    label=label if labelled else None,
                    zorder=1,
                )
    if zax is not None:
        _score_lines(zax, thresholds)
    if period is not None:
        ax.set_xlim(period[0], period[1] + pd.Timedelta(days=1))
    bottom = ax if zax is None else zax
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylabel("NBR")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _score_lines(zax: Axes, thresholds: tuple[float, float] | None) -> None:
    """The score panel's zero, threshold and agree-threshold lines, labels and legend."""
    zax.axhline(0, color="#999999", linewidth=0.6)
    if thresholds is not None:
        threshold, agree = thresholds
        same = agree == threshold
        zax.axhline(
            threshold,
            color="#444444",
            linewidth=1,
            linestyle=":",
            label=f"threshold {threshold:g}\n(alert and agree)"
            if same
            else f"threshold {threshold:g}",
            zorder=1,
        )
        if not same:
            zax.axhline(
                agree,
                color="#444444",
                linewidth=1,
                linestyle="-.",
                label=f"agree threshold {agree:g}",
                zorder=1,
            )
        zax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    zax.set_ylabel("monitor score z")


def count_histograms(counts: dict[str, np.ndarray]) -> Figure:
    """Histograms of valid observations per pixel, one panel per layer."""
    margins = {"left": 0.09, "right": 0.98, "bottom": 0.17, "top": 0.9, "wspace": 0.25}
    fig = figure(7.5, 2.8, margins=margins)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(counts))))
    for ax, (name, values) in zip(axes, counts.items(), strict=False):
        values = values[np.isfinite(values)]
        top = int(values.max()) if values.size else 0
        ax.hist(values, bins=np.arange(top + 2) - 0.5, color="#4c72b0")
        median = float(np.median(values)) if values.size else float("nan")
        ax.set_title(f"{name} (median {median:g})", fontsize="small")
        ax.set_xlabel("valid observations per pixel", fontsize="small")
    axes[0].set_ylabel("pixels")
    return fig


def shift_chart(shifts: pd.DataFrame, *, threshold_m: float) -> Figure:
    """Scatter of the measured Sentinel-2 shifts relative to Landsat, with the flag circle."""
    fig = figure(4.2, 4.0, margins={"left": 0.18, "right": 0.96, "bottom": 0.12, "top": 0.96})
    ax = fig.add_subplot()
    ax.scatter(shifts["dx_m"], shifts["dy_m"], s=14, color="#4c72b0")
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(
        threshold_m * np.cos(circle),
        threshold_m * np.sin(circle),
        "r--",
        linewidth=1,
        label=f"flag threshold {threshold_m:g} m",
    )
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.axvline(0, color="#999999", linewidth=0.6)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("dx east (m)")
    ax.set_ylabel("dy north (m)")
    ax.legend(fontsize="small")
    return fig


def value_map(layers: Sequence[Layer], *, aoi: gpd.GeoDataFrame | None, label: str) -> Figure:
    """One band of each tile (same CRS) with a colour bar and the AOI outline."""
    fig = figure(7.0, 6.0, margins={"left": 0.13, "right": 0.97, "bottom": 0.06, "top": 0.97})
    ax = fig.add_subplot()
    finite = np.concatenate([layer.data[np.isfinite(layer.data)].ravel() for layer in layers])
    vmax = float(np.percentile(finite, 98)) if finite.size else 1.0
    image = None
    for layer in layers:
        image = ax.imshow(
            layer.data,
            extent=layer.extent,
            cmap="Blues",
            vmin=0,
            vmax=vmax,
            interpolation="nearest",
        )
    _overlay(ax, aoi, None)
    if image is not None:
        fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    ax.ticklabel_format(useOffset=False, style="plain")
    return fig
