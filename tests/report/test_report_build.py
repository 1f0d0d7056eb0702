"""report.html from small hand-made outputs: sections, self-containment, robustness."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from fusion.export.manifest import OutputRecord, RunManifest, TileRecord
from fusion.report import REPORT_NAME, ReportWarning, write_report
from fusion.report import charts as report_charts

CRS = "EPSG:32635"
LEFT, TOP, N = 216_180, 88_530, 30
SECTIONS = ("header", "map", "alerts", "series", "valid", "shifts", "sigma")


def _raster(path: Path, data: np.ndarray, *, nodata: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    bands, height, width = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=bands,
        dtype=data.dtype,
        crs=CRS,
        transform=from_origin(LEFT, TOP, 10, 10),
        nodata=nodata,
    ) as dst:
        dst.write(data)


def _run(folder: Path, *, series: str = "fused", monitor: bool = True) -> RunManifest:
    """A run's staging folder with one tile: composite, counts, fused sigma of two dates."""
    rng = np.random.default_rng(0)
    files = {
        "composite": ("t1/composite.tif", rng.uniform(0, 0.1, (6, N, N)).astype("float32"), None),
        "valid_observations": (
            "t1/valid_observations.tif",
            rng.integers(0, 12, (2, N, N)).astype("uint16"),
            None,
        ),
    }
    if monitor:
        files["valid_count"] = (
            "t1/valid_count.tif",
            rng.integers(0, 8, (1, N, N)).astype("uint16"),
            65535,
        )
    if series == "fused":
        for day in ("20230106", "20230122"):
            sigma = rng.uniform(0, 0.02, (6, N, N)).astype("float32")
            files[f"fused_sigma:{day}"] = (f"t1/fused/LC09_{day}_sigma.tif", sigma, None)
    outputs = []
    for kind, (rel, data, nodata) in files.items():
        _raster(folder / rel, data, nodata=nodata)
        outputs.append(OutputRecord(path=rel, kind=kind.split(":")[0], tile="t1", bytes=1))
    sensors = {"fused": ["landsat", "sentinel2"], "sentinel2": ["sentinel2"]}[series]
    shifts = [
        {"dx_m": 3.0, "dy_m": -2.0, "magnitude_m": 3.6, "dt_days": 1.0, "n_valid": 3000},
        {"dx_m": 11.0, "dy_m": 1.0, "magnitude_m": 11.05, "dt_days": 0.0, "n_valid": 2600},
    ]
    return RunManifest(
        run_id="20240101T000000Z-abcdef",
        status="complete",
        started=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        parameters={
            "series": series,
            "sensors": sensors,
            "monitor_start": "2023-07-01",
            "monitor": {"min_history": 3},
            "shift_threshold_m": 10.0,
        },
        period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
        aoi={"area_ha": 9.0},
        source="demo",
        tiles=[
            TileRecord(
                id="t1",
                crs=CRS,
                shape=(N, N),
                bounds=(LEFT, TOP - 10 * N, LEFT + 10 * N, TOP),
                shifts=shifts if series == "fused" else [],
            )
        ],
        outputs=outputs,
    )


def _aoi() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        geometry=[box(LEFT + 20, TOP - 280, LEFT + 280, TOP - 20)], crs=CRS
    ).to_crs("EPSG:4326")


def _polygons() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_ha": [0.09, 0.04, 0.05],
            "first_date": pd.to_datetime(["2023-09-03", "2023-09-20", "2024-02-11"]),
            "confirmed_date": pd.to_datetime(["2023-10-01", None, None]),
            "confidence": np.array([2, 1, 1], np.uint8),
        },
        geometry=[
            box(LEFT + 50, TOP - 80, LEFT + 80, TOP - 50),
            box(LEFT + 150, TOP - 170, LEFT + 170, TOP - 150),
            box(LEFT + 200, TOP - 250, LEFT + 250, TOP - 240),
        ],
        crs=CRS,
    ).to_crs("EPSG:4326")


def _samples() -> pd.DataFrame:
    times = pd.date_range("2023-01-05", "2024-06-20", freq="16D")
    values = np.where(times < pd.Timestamp("2023-09-03"), 0.7, 0.3)
    return pd.DataFrame(
        {
            "tile": "t1",
            "alert_rank": 1,
            "time": times,
            "sensor": np.where(np.arange(len(times)) % 2, "landsat", "sentinel2"),
            "value": values.astype("float32"),
            "sigma": np.float32(0.02),
            "score": np.where(times < pd.Timestamp("2023-07-01"), np.nan, (values - 0.7) / 0.03),
            "x": LEFT + 65.0,
            "y": TOP - 65.0,
            "area_ha": 0.09,
            "confidence": 2,
            "alert_date": pd.Timestamp("2023-09-03"),
            "confirmed_date": pd.Timestamp("2023-10-01"),
        }
    )


def _sections(page: str) -> dict[str, str]:
    parts = re.split(r'<section id="', page)[1:]
    return {p.split('"', 1)[0]: p for p in parts}


def test_full_report_is_self_contained_with_every_section(tmp_path: Path) -> None:
    manifest = _run(tmp_path)
    path = write_report(
        tmp_path,
        manifest,
        aoi=_aoi(),
        polygons=_polygons(),
        samples=[_samples(), _samples().iloc[:0]],
        warnings_so_far=["tile t1: <something> happened"],
        timings_s={"search": 1.0},
    )
    assert path == tmp_path / REPORT_NAME
    page = path.read_text(encoding="utf-8")
    sections = _sections(page)
    assert tuple(sections) == SECTIONS
    for name in SECTIONS[1:]:
        assert "data:image/png;base64," in sections[name], name
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', page)
    )
    # Warnings are escaped, never markup.
    assert "&lt;something&gt;" in page and "<something>" not in page
    for href in re.findall(r'href="([^"]+)"', page):
        assert href == "manifest.json" or (tmp_path / href).is_file(), href
    # Monthly table: 2023-09 has one confirmed and one provisional alert.
    alerts = sections["alerts"]
    row = re.search(r"<td>2023-09</td>(.*?)</tr>", alerts, re.S)
    assert row is not None
    assert re.findall(r"<td>([^<]*)</td>", row.group(1)) == ["1", "0.04", "1", "0.09", "2", "0.13"]
    assert "2023-11" not in alerts  # quiet months are in the chart, not the table
    assert "over 10 m" in sections["shifts"]
    assert "own score of each observation" in sections["series"]
    assert "indicative" not in sections["series"]


def test_report_without_monitor_or_second_sensor(tmp_path: Path) -> None:
    manifest = _run(tmp_path, series="sentinel2", monitor=False)
    page = write_report(tmp_path, manifest, aoi=_aoi(), polygons=None, samples=None).read_text()
    sections = _sections(page)
    assert tuple(sections) == SECTIONS
    assert "monitor did not run" in sections["alerts"]
    assert "monitor did not run" in sections["series"]
    assert "No Landsat/Sentinel-2 pairs" in sections["shifts"]
    assert "Only the fused series" in sections["sigma"]
    assert "data:image/png" in sections["map"] and "data:image/png" in sections["valid"]


def test_report_with_no_alerts(tmp_path: Path) -> None:
    manifest = _run(tmp_path, series="sentinel2")
    empty = _polygons().iloc[:0]
    page = write_report(tmp_path, manifest, aoi=_aoi(), polygons=empty, samples=[]).read_text()
    sections = _sections(page)
    assert "No alerts in this run." in sections["alerts"]
    assert "No alerts in this run." in sections["series"]


def test_a_failing_chart_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("no bars today")

    monkeypatch.setattr(report_charts, "monthly_chart", broken)
    manifest = _run(tmp_path)
    with pytest.warns(ReportWarning, match="'Alerts by month'.*no bars today"):
        path = write_report(tmp_path, manifest, aoi=_aoi(), polygons=_polygons(), samples=None)
    sections = _sections(path.read_text())
    assert "could not be drawn (ValueError: no bars today)" in sections["alerts"]
    assert "data:image/png" not in sections["alerts"]
    assert "data:image/png" in sections["map"]


def test_outputs_of_carried_over_tiles_are_read_where_published(tmp_path: Path) -> None:
    published, staging = tmp_path / "out", tmp_path / "out" / ".staging"
    manifest = _run(published, series="sentinel2")
    staging.mkdir()
    page = write_report(
        staging, manifest, aoi=_aoi(), polygons=None, samples=None, published=published
    ).read_text()
    sections = _sections(page)
    assert "data:image/png" in sections["map"]
    assert "could not be drawn" not in page
