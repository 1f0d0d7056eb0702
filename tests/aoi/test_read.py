"""AOI reading and validation: good files load, bad ones fail with a precise message."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box

from fusion.aoi import read_aoi
from fusion.aoi.read import AOIRepairedWarning
from fusion.errors import AOIError

REPO = Path(__file__).resolve().parents[2]


def _feature_collection(geometry: dict) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
        }
    )


def test_example_aoi_reads_as_one_polygon_in_wgs84() -> None:
    aoi = read_aoi(REPO / "congo.geojson")
    assert aoi.crs.to_epsg() == 4326
    assert len(aoi) == 1
    assert aoi.geometry.iloc[0].geom_type == "Polygon"
    minx, miny, maxx, maxy = aoi.total_bounds
    assert 24.4 < minx < maxx < 24.5 and 0.7 < miny < maxy < 0.9


@pytest.mark.parametrize("suffix,driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile")])
def test_other_formats_and_crs_are_reprojected(tmp_path: Path, suffix: str, driver: str) -> None:
    utm = gpd.GeoDataFrame(geometry=[box(215_500, 86_000, 218_000, 89_000)], crs="EPSG:32635")
    path = tmp_path / f"aoi{suffix}"
    utm.to_file(path, driver=driver)
    aoi = read_aoi(path)
    assert aoi.crs.to_epsg() == 4326
    assert aoi.to_crs("EPSG:32635").area.iloc[0] == pytest.approx(2500 * 3000, rel=1e-6)


def test_features_are_dissolved(tmp_path: Path) -> None:
    path = tmp_path / "two.geojson"
    gpd.GeoDataFrame(
        geometry=[box(24.0, 0.0, 24.01, 0.01), box(24.02, 0.0, 24.03, 0.01)], crs=4326
    ).to_file(path)
    aoi = read_aoi(path)
    assert len(aoi) == 1 and aoi.geometry.iloc[0].geom_type == "MultiPolygon"


def test_harmless_invalidity_is_repaired_with_a_warning(tmp_path: Path) -> None:
    # A shell that touches itself at one vertex (an inverted hole): make_valid keeps its area.
    ring = [(0, 0), (4, 0), (4, 4), (2, 4), (3, 2), (1, 2), (2, 4), (0, 4), (0, 0)]
    geom = Polygon([(24 + x / 100, y / 100) for x, y in ring])
    assert not geom.is_valid
    path = tmp_path / "hole.geojson"
    path.write_text(_feature_collection(geom.__geo_interface__))
    with pytest.warns(AOIRepairedWarning, match="repaired"):
        aoi = read_aoi(path)
    assert aoi.geometry.iloc[0].is_valid


BAD_INPUTS = {
    "missing": (None, "not found"),
    "empty file": ("", "empty"),
    "broken json": ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
    "no features": ('{"type": "FeatureCollection", "features": []}', "no features"),
    "point": (_feature_collection(Point(24.4, 0.8).__geo_interface__), "Point is not an area"),
    "bow tie": (
        _feature_collection(
            {
                "type": "Polygon",
                "coordinates": [[[24, 0], [24.1, 0.1], [24.1, 0], [24, 0.1], [24, 0]]],
            }
        ),
        "self-intersecting",
    ),
    "out of range": (_feature_collection(box(190, 0, 191, 1).__geo_interface__), "out of range"),
    "not json at all": ("this is not json", "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_aoi_gives_a_precise_error(tmp_path: Path, case: str) -> None:
    content, expected = BAD_INPUTS[case]
    path = tmp_path / "aoi.geojson"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AOIError, match=expected) as info:
        read_aoi(path)
    message = str(info.value)
    assert str(path) in message, "the error must name the file"
    assert "\n" not in message, "the error must be one line"


def test_unknown_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame(geometry=[box(215_500, 86_000, 218_000, 89_000)]).to_file(path)
    with pytest.raises(AOIError, match="no coordinate reference system"):
        read_aoi(path)
