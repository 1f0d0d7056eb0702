"""screen_assets: fail naming the item and the fix, or drop the item and record it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import wrap_xr
from rasterio.errors import RasterioIOError

from fusion.catalog.provenance import item_provenance
from fusion.catalog.search import SearchResult
from fusion.errors import AssetReadError, SkippedAssetWarning
from fusion.export.cog import write_cog
from fusion.ingest import EARTH_SEARCH_V1
from fusion.ingest import assets as ingest_assets
from fusion.pipeline.assets import read_failure, screen_assets

S2 = EARTH_SEARCH_V1["sentinel-2-l2a"]


@pytest.fixture
def result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SearchResult:
    monkeypatch.setattr(ingest_assets, "DEFAULT_RETRY", ingest_assets.RetryPolicy(retries=0))
    gbox = GeoBox.from_bbox((0, 0, 300, 300), "EPSG:32635", resolution=10)
    values = np.ones((1, 30, 30), "uint16")
    good = write_cog(
        xr.DataArray(wrap_xr(values, gbox, dims=("band", "y", "x"), axis=1, nodata=0)),
        tmp_path / "good.tif",
        nodata=0,
    )
    items = []
    for day, item_id in enumerate(("S2A_OK_20240101", "S2B_GONE_20240102")):
        item = pystac.Item(
            item_id,
            geometry=None,
            bbox=None,
            datetime=dt.datetime(2024, 1, 1 + day, tzinfo=dt.UTC),
            properties={"platform": "sentinel-2a"},
            collection="sentinel-2-l2a",
        )
        for key in (*S2.assets, S2.mask_asset):
            item.add_asset(key, pystac.Asset(str(good)))
        items.append(item)
    items[1].assets["swir16"].href = str(tmp_path / "gone.tif")
    return SearchResult(
        source="test",
        items={"sentinel2": items},
        provenance=[item_provenance(i, source="test", sensor="sentinel2") for i in items],
        bands={"sentinel-2-l2a": S2},
    )


def test_fail_names_tile_item_asset_href_cause_and_fix(result: SearchResult) -> None:
    with pytest.raises(AssetReadError) as info:
        screen_assets(result, on_missing="fail", tile_id="35N_0210_00075")
    message = str(info.value)
    for needle in ("tile 35N_0210_00075", "S2B_GONE_20240102", "'swir16'", "gone.tif"):
        assert needle in message
    assert "No such file" in message and "--on-missing skip" in message


def test_skip_drops_the_item_and_records_every_bad_asset(result: SearchResult) -> None:
    with pytest.warns(SkippedAssetWarning, match="S2B_GONE_20240102 left out"):
        kept, skipped = screen_assets(result, on_missing="skip", tile_id="t")
    assert [i.id for i in kept.items["sentinel2"]] == ["S2A_OK_20240101"]
    assert [p.item_id for p in kept.provenance] == ["S2A_OK_20240101"]
    (record,) = skipped
    assert record["item_id"] == "S2B_GONE_20240102" and record["asset"] == "swir16"
    assert record["tile"] == "t" and record["href"].endswith("gone.tif")


def test_all_readable_is_the_same_result(result: SearchResult) -> None:
    good = result.items["sentinel2"][0]
    whole = SearchResult(source="t", items={"sentinel2": [good]}, provenance=[], bands=result.bands)
    kept, skipped = screen_assets(whole, on_missing="fail", tile_id="t")
    assert kept is whole and skipped == []


def test_read_failure_names_the_asset_only_when_its_file_name_is_unique(
    result: SearchResult,
) -> None:
    error = RasterioIOError("gone.tif: TIFFReadEncodedTile() failed")
    message = str(read_failure(error, result, tile_id="t"))
    assert "item S2B_GONE_20240102: asset 'swir16'" in message and "rerun" in message
    shared = RasterioIOError("good.tif, band 1: IReadBlock failed")  # every other asset
    message = str(read_failure(shared, result, tile_id="t"))
    assert "item" not in message and "good.tif, band 1: IReadBlock failed" in message
