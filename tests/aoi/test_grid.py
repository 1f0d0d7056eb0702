"""AOI tiling: one 10 m UTM grid per tile, 30 m-aligned, exact cover of the AOI."""

from __future__ import annotations

import geopandas as gpd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from fusion.aoi import Tile, aoi_grid
from fusion.errors import AOIError


def _aoi(minx: float, miny: float, maxx: float, maxy: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[box(minx, miny, maxx, maxy)], crs="EPSG:4326")


def _check_alignment(tile: Tile) -> None:
    gb = tile.geobox
    assert gb.resolution.x == 10 and gb.resolution.y == -10
    left, bottom, right, top = gb.extent.boundingbox.bbox
    for edge in (left, bottom, right, top):
        assert edge % 30 == pytest.approx(0, abs=1e-6) or edge % 30 == pytest.approx(30, abs=1e-6)
    assert gb.shape[0] % 3 == 0 and gb.shape[1] % 3 == 0
    assert tile.geobox30.shape == (gb.shape[0] // 3, gb.shape[1] // 3)
    assert tile.geobox30.extent.boundingbox.bbox == pytest.approx(gb.extent.boundingbox.bbox)
    # the tile's AOI part lies inside its grid
    assert tile.geometry.difference(gb.extent).area == pytest.approx(0, abs=1.0)


def test_small_aoi_is_one_tile_in_its_utm_zone() -> None:
    (tile,) = aoi_grid(_aoi(24.445, 0.78, 24.477, 0.81))
    assert tile.crs.epsg == 32635
    assert tile.id == "35N_0215_00085"  # 5,010 m cells from the zone grid origin
    _check_alignment(tile)


def test_aoi_across_zones_and_equator_is_covered_once() -> None:
    aoi = _aoi(23.95, -0.05, 24.05, 0.05)  # zone 34/35 boundary at 24 E, and the equator
    tiles = aoi_grid(aoi)
    assert {t.crs.epsg for t in tiles} == {32634, 32635, 32734, 32735}
    for tile in tiles:
        _check_alignment(tile)
    # areas add up to the AOI's own area: no overlap, no gap
    equal_area = aoi.to_crs("ESRI:54009").area.iloc[0]
    covered = sum(
        gpd.GeoSeries([t.geometry.geom], crs=t.crs.to_wkt()).to_crs("ESRI:54009").area.iloc[0]
        for t in tiles
    )
    assert covered == pytest.approx(equal_area, rel=1e-3)
    assert len({t.id for t in tiles}) == len(tiles)


def test_tile_ids_are_stable_and_tile_size_must_nest_landsat() -> None:
    aoi = _aoi(24.3, 0.7, 24.6, 0.9)
    assert [t.id for t in aoi_grid(aoi)] == [t.id for t in aoi_grid(aoi)]
    with pytest.raises(AOIError, match="multiple of 30"):
        aoi_grid(aoi, tile_size_m=10_000)


@settings(max_examples=25, deadline=None)
@given(
    lon=st.floats(-179.0, 178.0),
    lat=st.floats(-70.0, 70.0),
    width=st.floats(0.001, 0.2),
    height=st.floats(0.001, 0.2),
)
def test_any_small_aoi_gets_aligned_tiles(
    lon: float, lat: float, width: float, height: float
) -> None:
    for tile in aoi_grid(_aoi(lon, lat, lon + width, lat + height), tile_size_m=30_000):
        _check_alignment(tile)
