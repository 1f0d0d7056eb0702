"""Mosaics: one VRT per layer and zone over the tiles' COGs, values and styles kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_zeros

from fusion.export.alerts import write_alert_rasters
from fusion.export.manifest import OutputRecord, RunManifest
from fusion.export.mosaic import write_mosaics

GRID = {"crs": "EPSG:32635", "resolution": 10}


def _tile(folder: Path, bbox: tuple[int, int, int, int], level: int) -> dict[str, Path]:
    gbox = GeoBox.from_bbox(bbox, **GRID)
    conf = xr_zeros(gbox, dtype="uint8")
    conf[2:5, 2:5] = level
    date = xr.where(conf > 0, np.datetime64("2023-08-01", "ns"), np.datetime64("NaT", "ns"))
    alerts = xr.Dataset(
        {
            "confidence": conf,
            "alert_date": date,
            "confirmed_date": date.where(conf == 2),
            "magnitude": xr.where(conf > 0, np.float32(0.3), np.float32(np.nan)),
            "valid_count": xr.full_like(conf, 7, dtype="uint16"),
        }
    )
    inside = xr.ones_like(conf, dtype=bool)
    return write_alert_rasters(
        alerts,
        folder,
        inside=inside,
        period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
        tags={},
    )


def _manifest(out: Path, tiles: dict[str, dict[str, Path]]) -> RunManifest:
    manifest = RunManifest(
        run_id="r",
        status="complete",
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        parameters={},
        period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
        aoi={},
        source="demo",
    )
    for tile, files in tiles.items():
        for kind, path in files.items():
            rel = str(path.relative_to(out))
            manifest.outputs.append(OutputRecord(path=rel, kind=kind, tile=tile, bytes=1))
    return manifest


def test_tiles_of_one_zone_make_one_layer(tmp_path: Path) -> None:
    out = tmp_path / "out"
    west = _tile(out / "35N_0300_00090", (300_000, 90_000, 300_100, 90_080), level=1)
    east = _tile(out / "35N_0301_00090", (300_100, 90_000, 300_200, 90_080), level=2)
    vrts = write_mosaics(
        _manifest(out, {"35N_0300_00090": west, "35N_0301_00090": east}), out, published=out
    )
    assert {p.relative_to(out).as_posix() for p in vrts} >= {
        "mosaic/35N/confidence.vrt",
        "mosaic/35N/alert_date.vrt",
        "mosaic/35N/valid_count.vrt",
    }
    with rasterio.open(out / "mosaic/35N/confidence.vrt") as src:
        assert (src.width, src.height) == (20, 8)
        assert src.transform.c == 300_000 and src.transform.f == 90_080
        assert src.crs.to_epsg() == 32635
        values = src.read(1)
        assert src.colormap(1)[2][:3] == (220, 0, 0)
    with (
        rasterio.open(out / "35N_0300_00090/confidence.tif") as w,
        rasterio.open(out / "35N_0301_00090/confidence.tif") as e,
    ):
        np.testing.assert_array_equal(values[:, :10], w.read(1))
        np.testing.assert_array_equal(values[:, 10:], e.read(1))
    assert (out / "mosaic/35N/confidence.qml").read_text() == (
        out / "35N_0300_00090/confidence.qml"
    ).read_text()
    with rasterio.open(out / "mosaic/35N/magnitude.vrt") as src:
        assert np.isnan(src.nodata) and np.isnan(src.read(1)[0, 0])


def test_a_moved_folder_keeps_its_mosaics(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {
        "35N_0300_00090": _tile(out / "35N_0300_00090", (300_000, 90_000, 300_100, 90_080), 1),
        "35N_0301_00090": _tile(out / "35N_0301_00090", (300_100, 90_000, 300_200, 90_080), 2),
    }
    write_mosaics(_manifest(out, files), out, published=out)
    moved = out.rename(tmp_path / "moved")
    with rasterio.open(moved / "mosaic/35N/valid_count.vrt") as src:
        assert (src.read(1) == 7).all()


def test_one_tile_needs_no_mosaic(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = _tile(out / "35N_0300_00090", (300_000, 90_000, 300_100, 90_080), level=1)
    assert write_mosaics(_manifest(out, {"35N_0300_00090": files}), out, published=out) == []
