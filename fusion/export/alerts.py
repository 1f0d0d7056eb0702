"""Alert outputs: date, confidence, magnitude and valid-count COGs; polygons in a GeoPackage.

Dates are stored as days since :data:`DATE_ORIGIN` (uint16, 0 = no alert), the GLAD/RADD
convention that keeps the layer small and lets QGIS stretch it; the origin is in the file's
tags and the style's labels.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr

from fusion.export.atomic import atomic_path
from fusion.export.cog import write_cog
from fusion.export.styles import (
    ALERT_CLASSES,
    alert_polygons_style,
    paletted,
    pseudocolor,
    write_style,
)

DATE_ORIGIN = dt.date(2015, 1, 1)
ALERTS_LAYER = "alerts"
_NO_DATA_U16 = 65535


def days_since_origin(dates: xr.DataArray) -> xr.DataArray:
    """datetime64 → uint16 days since :data:`DATE_ORIGIN`; NaT → 0."""
    origin = np.datetime64(DATE_ORIGIN, "D")
    days = (dates.astype("datetime64[D]") - origin) / np.timedelta64(1, "D")
    return days.where(dates.notnull(), 0).clip(0, _NO_DATA_U16 - 1).astype("uint16")


def write_alert_rasters(
    alerts: xr.Dataset,
    folder: Path,
    *,
    inside: xr.DataArray,
    period: tuple[dt.date, dt.date],
    tags: dict[str, str],
) -> dict[str, Path]:
    """Write the computed alert layers of one tile with their styles; returns kind → path."""
    outside = ~inside.astype(bool)
    files: dict[str, Path] = {}
    date_tags = {**tags, "DATE_ENCODING": f"days since {DATE_ORIGIN.isoformat()}; 0 = no alert"}
    lo, hi = ((d - DATE_ORIGIN).days for d in period)
    mid = lo + (hi - lo) // 2
    stops = [
        (float(day), colour, (DATE_ORIGIN + dt.timedelta(days=day)).isoformat())
        for day, colour in ((lo, "#fde725"), (mid, "#21918c"), (hi, "#440154"))
    ]
    for name, meaning in (
        ("alert_date", "first anomalous date"),
        ("confirmed_date", "confirmation date"),
    ):
        if name not in alerts:
            continue
        files[name] = write_cog(
            days_since_origin(alerts[name]).where(~outside, 0).astype("uint16"),
            folder / f"{name}.tif",
            nodata=0,
            band_names=[f"{meaning} (days since {DATE_ORIGIN.isoformat()})"],
            overview_resampling="nearest",
            tags=date_tags,
        )
        write_style(pseudocolor(stops), files[name])

    confidence = alerts["confidence"].where(~outside, 255).astype("uint8")
    colours = {v: (*_rgb(c), a) for v, _, c, a in ALERT_CLASSES}
    files["confidence"] = write_cog(
        confidence,
        folder / "confidence.tif",
        nodata=255,
        band_names=["alert confidence"],
        overview_resampling="mode",
        colormap=colours,
        category_names=[label for _, label, _, _ in ALERT_CLASSES],
        tags=tags,
    )
    write_style(paletted(ALERT_CLASSES), files["confidence"])

    magnitude = alerts["magnitude"].where(~outside).astype("float32")
    files["magnitude"] = write_cog(
        magnitude,
        folder / "magnitude.tif",
        nodata=float("nan"),
        band_names=["NBR drop below history"],
        overview_resampling="nearest",
        tags=tags,
    )
    write_style(
        pseudocolor([(0.0, "#ffffb2", "0"), (0.25, "#fd8d3c", "0.25"), (0.6, "#bd0026", "0.6")]),
        files["magnitude"],
    )

    count = alerts["valid_count"].where(~outside, _NO_DATA_U16).astype("uint16")
    files["valid_count"] = write_cog(
        count,
        folder / "valid_count.tif",
        nodata=_NO_DATA_U16,
        band_names=["valid observations since monitor start"],
        overview_resampling="nearest",
        tags=tags,
    )
    write_style(
        pseudocolor([(0.0, "#d7191c", "0"), (5.0, "#ffffbf", "5"), (20.0, "#1a9641", "20")]),
        files["valid_count"],
    )
    return files


def append_polygons(polygons: gpd.GeoDataFrame, previous: Path | None, target: Path) -> Path:
    """Write ``target`` = the polygons of ``previous`` (earlier runs) + ``polygons``, in EPSG:4326.

    ``target`` is a new file in the run's staging folder; the runner publishes it over the old
    one, so a failed run leaves the earlier GeoPackage intact.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    new = polygons.to_crs("EPSG:4326")
    with atomic_path(target) as tmp:
        if previous is not None and previous.exists():
            shutil.copyfile(previous, tmp)
            if len(new):
                new.to_file(tmp, layer=ALERTS_LAYER, driver="GPKG", mode="a")
        else:
            new.to_file(tmp, layer=ALERTS_LAYER, driver="GPKG")
    write_style(alert_polygons_style(), target)
    return target


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
