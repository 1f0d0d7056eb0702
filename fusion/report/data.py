"""What the run report shows, gathered from the manifest, the polygons and the sampled series.

Plain tables (pandas) and small frozen records; no drawing and no file reading here, so the
numbers can be tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from fusion.change.params import MonitorParams
from fusion.export.manifest import RunManifest

CONFIDENCE_NAMES = {1: "provisional", 2: "confirmed"}


@dataclass(frozen=True)
class Header:
    """The report's header: what ran, on what, and how it went."""

    run_id: str
    status: str
    period: str
    monitor_start: str
    source: str
    series: str
    sensors: list[str]
    aoi_area_ha: float
    tiles: int
    timings_s: dict[str, float]
    warnings: list[str]
    links: list[tuple[str, str, str]] = field(default_factory=list)
    """(relative href, kind, tile) of every output, and the manifest."""


def header(manifest: RunManifest, *, warnings: list[str], timings_s: dict[str, float]) -> Header:
    """The header of ``manifest``'s run; ``warnings`` and ``timings_s`` as known so far."""
    params = manifest.parameters
    # The manifest's own status is settled after the report is written: the same rule.
    status = "partial" if manifest.skipped_assets else manifest.status
    links = [(o.path, o.kind, o.tile or "") for o in manifest.outputs]
    links.append(("manifest.json", "manifest", ""))
    return Header(
        run_id=manifest.run_id,
        status=status,
        period=f"{manifest.period[0]} – {manifest.period[1]}",
        monitor_start=str(params.get("monitor_start", "")),
        source=manifest.source,
        series=str(params.get("series", "")),
        sensors=[str(s) for s in params.get("sensors", [])],
        aoi_area_ha=float(manifest.aoi.get("area_ha", float("nan"))),
        tiles=len(manifest.tiles),
        timings_s={k: round(v, 2) for k, v in timings_s.items()},
        warnings=list(warnings),
        links=links,
    )


def monthly_alerts(
    polygons: gpd.GeoDataFrame | pd.DataFrame | None,
    *,
    months: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Alert count and area (ha) by month of first alert date and confidence.

    One row per month (``YYYY-MM``; ``unknown`` for a missing date), columns
    ``{provisional,confirmed}_{count,ha}`` and ``total_count``/``total_ha``; sorted by month.
    With ``months`` (first, last), every month between them has a row, zero when quiet.
    """
    columns = [
        f"{name}_{what}" for name in ("provisional", "confirmed") for what in ("count", "ha")
    ]
    columns += ["total_count", "total_ha"]
    if polygons is None or len(polygons) == 0:
        out = pd.DataFrame(columns=columns, index=pd.Index([], name="month"))
        return _with_months(out, months)
    dates = pd.to_datetime(polygons["first_date"])
    frame = pd.DataFrame(
        {
            "month": dates.dt.strftime("%Y-%m").fillna("unknown"),
            "confidence": polygons["confidence"].astype(int).map(CONFIDENCE_NAMES),
            "area_ha": polygons["area_ha"].astype(float),
        }
    )
    table = frame.pivot_table(
        index="month",
        columns="confidence",
        values="area_ha",
        aggfunc=["size", "sum"],
        fill_value=0,
    )
    out = pd.DataFrame(index=table.index)
    for name in ("provisional", "confirmed"):
        out[f"{name}_count"] = table.get(("size", name), 0)
        out[f"{name}_ha"] = table.get(("sum", name), 0.0)
    out = out.fillna(0).astype({f"{n}_count": int for n in CONFIDENCE_NAMES.values()})
    out["total_count"] = out["provisional_count"] + out["confirmed_count"]
    out["total_ha"] = out["provisional_ha"] + out["confirmed_ha"]
    return _with_months(out[columns], months)


def _with_months(
    table: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None
) -> pd.DataFrame:
    """``table`` with a zero row for every month of ``months`` it lacks, sorted by month."""
    if months is not None:
        span = pd.period_range(months[0], months[1], freq="M").strftime("%Y-%m")
        table = table.reindex(table.index.union(pd.Index(span)), fill_value=0)
    table = table.sort_index().rename_axis("month")
    counts = [c for c in table.columns if c.endswith("count")]
    return table.astype(
        {c: int for c in counts} | {c: float for c in table.columns if c not in counts}
    )


def shift_table(manifest: RunManifest) -> pd.DataFrame:
    """Every measured Landsat/Sentinel-2 shift of the run, one row per pair, with its tile."""
    rows = [{"tile": t.id, **s} for t in manifest.tiles for s in t.shifts]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["tile", "dx_m", "dy_m", "magnitude_m", "dt_days"])
    return frame


def shift_summary(shifts: pd.DataFrame, *, threshold_m: float) -> dict[str, float]:
    """Pairs, median and 90th-percentile shift length, mean dx/dy and pairs over threshold."""
    if shifts.empty:
        return {"pairs": 0}
    size = shifts["magnitude_m"].astype(float)
    return {
        "pairs": len(shifts),
        "median_m": float(size.median()),
        "p90_m": float(size.quantile(0.9)),
        "mean_dx_m": float(shifts["dx_m"].mean()),
        "mean_dy_m": float(shifts["dy_m"].mean()),
        "over_threshold": int((size > threshold_m).sum()),
    }


@dataclass(frozen=True)
class History:
    """The history statistics of one sampled pixel's series (raw index, not the monitor's
    self-referenced one: the monitor's own decision is the sampled ``score``)."""

    median: float
    spread: float
    count: int


def history_stats(series: pd.DataFrame, *, monitor_start: Any, monitor: dict[str, Any]) -> History:
    """Median and spread (1.4826·MAD, floored) of the values before ``monitor_start``.

    The same robust statistics the monitor takes of its history
    (:mod:`fusion.change.monitor`), on the sampled raw index values.
    """
    floor = float(monitor.get("spread_floor", MonitorParams().spread_floor))
    times = pd.to_datetime(series["time"])
    hist = series.loc[times < pd.Timestamp(monitor_start), "value"].to_numpy(float)
    hist = hist[np.isfinite(hist)]
    if hist.size == 0:
        return History(median=float("nan"), spread=float("nan"), count=0)
    median = float(np.median(hist))
    spread = max(float(median_abs_deviation(hist, scale="normal")), floor)
    return History(median=median, spread=spread, count=hist.size)


def monitor_params(monitor: dict[str, Any]) -> MonitorParams:
    """The run's monitor parameters (other monitor options, such as ``self_reference``, are
    not parameters and are left out)."""
    names = {f.name for f in fields(MonitorParams)}
    return MonitorParams.from_kwargs({k: v for k, v in monitor.items() if k in names})


def score_thresholds(monitor: dict[str, Any]) -> tuple[float, float]:
    """The monitor's ``(threshold, agree_threshold)`` for the run's monitor parameters."""
    params = monitor_params(monitor)
    return params.threshold, params.agree_threshold


def top_alerts(samples: pd.DataFrame | None, *, top_n: int = 3) -> list[pd.DataFrame]:
    """The sampled series of the ``top_n`` largest alerts of the run (all tiles), largest first."""
    if samples is None or samples.empty:
        return []
    keys = (
        samples.groupby(["tile", "alert_rank"], sort=False)["area_ha"]
        .first()
        .sort_values(ascending=False, kind="stable")
        .head(top_n)
    )
    return [
        samples[(samples["tile"] == tile) & (samples["alert_rank"] == rank)].sort_values("time")
        for tile, rank in keys.index
    ]
