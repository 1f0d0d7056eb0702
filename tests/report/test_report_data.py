"""The report's numbers: monthly alert table, shift summary, history statistics, header."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from fusion.export.manifest import OutputRecord, RunManifest, TileRecord
from fusion.report.data import (
    header,
    history_stats,
    monthly_alerts,
    score_thresholds,
    shift_summary,
    shift_table,
    top_alerts,
)


def _polygons() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_ha": [0.5, 0.25, 1.0, 0.1, 0.05],
            "first_date": pd.to_datetime(
                ["2023-08-03", "2023-08-30", "2023-08-15", "2023-10-01", None]
            ),
            "confidence": np.array([2, 2, 1, 2, 1], np.uint8),
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(5)],
        crs="EPSG:4326",
    )


def test_monthly_alerts_counts_and_areas_by_month_and_confidence() -> None:
    table = monthly_alerts(_polygons())
    assert table.index.tolist() == ["2023-08", "2023-10", "unknown"]
    aug = table.loc["2023-08"]
    assert (aug["confirmed_count"], aug["provisional_count"], aug["total_count"]) == (2, 1, 3)
    assert aug["confirmed_ha"] == pytest.approx(0.75)
    assert aug["provisional_ha"] == pytest.approx(1.0)
    assert aug["total_ha"] == pytest.approx(1.75)
    assert table.loc["2023-10", "confirmed_count"] == 1
    assert table.loc["unknown", "provisional_ha"] == pytest.approx(0.05)
    assert table["total_count"].sum() == 5
    assert table["confirmed_count"].dtype.kind == "i"


def test_monthly_alerts_fill_quiet_months_of_a_range() -> None:
    table = monthly_alerts(
        _polygons().iloc[:4],
        months=(pd.Timestamp("2023-07-02"), pd.Timestamp("2023-11-30")),
    )
    assert table.index.tolist() == ["2023-07", "2023-08", "2023-09", "2023-10", "2023-11"]
    assert table.loc["2023-09"].tolist() == [0, 0.0, 0, 0.0, 0, 0.0]
    assert table["total_count"].tolist() == [0, 3, 0, 1, 0]


def test_monthly_alerts_without_polygons() -> None:
    assert monthly_alerts(None).empty
    empty = _polygons().iloc[:0]
    table = monthly_alerts(empty, months=(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")))
    assert table.index.tolist() == ["2024-01", "2024-02"]
    assert table["total_count"].sum() == 0


def _manifest() -> RunManifest:
    shifts = [
        {"dx_m": 3.0, "dy_m": 4.0, "magnitude_m": 5.0, "dt_days": 1.0},
        {"dx_m": -6.0, "dy_m": 8.0, "magnitude_m": 10.0, "dt_days": 0.0},
        {"dx_m": 12.0, "dy_m": 0.0, "magnitude_m": 12.0, "dt_days": 2.0},
    ]
    return RunManifest(
        run_id="r1",
        status="complete",
        started=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        parameters={
            "series": "fused",
            "sensors": ["landsat", "sentinel2"],
            "monitor_start": "2023-07-01",
        },
        period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
        aoi={"area_ha": 277.5},
        source="demo",
        tiles=[
            TileRecord(
                id="a", crs="EPSG:32635", shape=(3, 3), bounds=(0, 0, 30, 30), shifts=shifts
            ),
            TileRecord(id="b", crs="EPSG:32635", shape=(3, 3), bounds=(30, 0, 60, 30)),
        ],
        skipped_assets=[{"item": "x"}],
        outputs=[OutputRecord(path="a/composite.tif", kind="composite", tile="a", bytes=1)],
    )


def test_shift_summary() -> None:
    shifts = shift_table(_manifest())
    assert shifts["tile"].tolist() == ["a", "a", "a"]
    summary = shift_summary(shifts, threshold_m=10.0)
    assert summary["pairs"] == 3
    assert summary["median_m"] == pytest.approx(10.0)
    assert summary["mean_dx_m"] == pytest.approx(3.0)
    assert summary["mean_dy_m"] == pytest.approx(4.0)
    assert summary["over_threshold"] == 1  # 10 m is not over a 10 m threshold
    assert (
        shift_summary(shift_table(_manifest().model_copy(update={"tiles": []})), threshold_m=1)[
            "pairs"
        ]
        == 0
    )


def test_header_links_every_output_and_settles_the_status() -> None:
    head = header(_manifest(), warnings=["w"], timings_s={"search": 1.234})
    assert head.links == [("a/composite.tif", "composite", "a"), ("manifest.json", "manifest", "")]
    assert head.status == "partial"  # a skipped asset makes the run partial
    assert head.timings_s == {"search": 1.23}
    assert head.monitor_start == "2023-07-01"
    assert head.aoi_area_ha == 277.5


def _series(values: list[float], start: str = "2023-01-01") -> pd.DataFrame:
    times = pd.date_range(start, periods=len(values), freq="30D")
    return pd.DataFrame({"time": times, "value": values})


def test_history_stats_match_the_monitor_rules() -> None:
    # History: the 6 values before 2023-06-30; median 0.7, MAD 0.02 → spread 1.4826 × 0.02.
    series = _series([0.68, 0.70, 0.72, 0.70, 0.66, 0.74, 0.2, 0.3])
    stats = history_stats(series, monitor_start="2023-06-30", monitor={"threshold": -4})
    assert stats.count == 6
    assert stats.median == pytest.approx(0.70)
    assert stats.spread == pytest.approx(1.4826 * 0.02, rel=1e-4)
    floored = history_stats(
        _series([0.7] * 5), monitor_start="2024-01-01", monitor={"spread_floor": 0.05}
    )
    assert floored.spread == 0.05
    assert history_stats(series, monitor_start="2022-01-01", monitor={}).count == 0


def test_score_thresholds_are_the_monitor_parameters() -> None:
    assert score_thresholds({}) == (-3.0, -3.0)  # MonitorParams' defaults
    assert score_thresholds({"threshold": -4, "confirm_threshold": -2}) == (-4.0, -2.0)
    assert score_thresholds({"threshold": -5, "self_reference": False}) == (-5.0, -5.0)


def test_top_alerts_rank_across_tiles_by_area() -> None:
    rows = []
    for tile, rank, area in (("a", 1, 0.5), ("a", 2, 0.2), ("b", 1, 0.9), ("b", 2, 0.1)):
        for day in (3, 1, 2):
            rows.append(
                {
                    "tile": tile,
                    "alert_rank": rank,
                    "area_ha": area,
                    "time": pd.Timestamp(2024, 1, day),
                }
            )
    tops = top_alerts(pd.DataFrame(rows), top_n=3)
    assert [(t["tile"].iloc[0], t["area_ha"].iloc[0]) for t in tops] == [
        ("b", 0.9),
        ("a", 0.5),
        ("a", 0.2),
    ]
    assert tops[0]["time"].is_monotonic_increasing
    assert top_alerts(None) == []
