"""Asset probe: missing and truncated files are found, transient errors retried, URLs scrubbed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.errors import RasterioIOError

from fusion.export.cog import write_cog
from fusion.ingest import EARTH_SEARCH_V1
from fusion.ingest.assets import (
    GDAL_READ_ENV,
    RetryPolicy,
    describe,
    open_asset,
    probe_assets,
    scrub,
)
from fusion.ingest.load import load_sensor

NO_WAIT = RetryPolicy(retries=2, delay_s=0.0)
S2 = EARTH_SEARCH_V1["sentinel-2-l2a"]
SIGNED = "https://pc.blob.core.windows.net/c/B04.tif?st=2026-01-01&se=2026-01-02&sig=S3CRET%3D"


def _cog(path: Path, size: int = 600) -> Path:
    """A real tiled COG (several blocks, overviews), as the demo world and Earth Search write."""
    gbox = GeoBox.from_bbox((0, 0, size * 10, size * 10), "EPSG:32635", resolution=10)
    values = np.arange(size * size, dtype="uint16").reshape(1, size, size)
    import xarray as xr
    from odc.geo.xr import wrap_xr

    data = wrap_xr(values, gbox, dims=("band", "y", "x"), axis=1, nodata=0)
    return write_cog(xr.DataArray(data), path, nodata=0, band_names=["b"])


def _item(item_id: str, href_of: dict[str, str]) -> pystac.Item:
    item = pystac.Item(
        item_id,
        geometry=None,
        bbox=None,
        datetime=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        properties={},
        collection="sentinel-2-l2a",
    )
    for key in (*S2.assets, S2.mask_asset):
        item.add_asset(key, pystac.Asset(href_of.get(key, href_of["*"])))
    return item


def test_good_missing_and_truncated_assets(tmp_path: Path) -> None:
    good = _cog(tmp_path / "good.tif")
    data = good.read_bytes()
    # Cut inside the full-resolution tiles: the header still opens.
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(data[: int(len(data) * 0.8)])
    with rasterio.open(truncated) as src:
        assert src.count == 1  # opening alone would not notice
    items = [
        _item("ok", {"*": str(good)}),
        _item("gone", {"*": str(good), "red": str(tmp_path / "missing.tif")}),
        _item("cut", {"*": str(good), "scl": str(truncated)}),
    ]
    problems = probe_assets(items, {"sentinel-2-l2a": S2}, retry=NO_WAIT)
    assert [(p.item_id, p.asset) for p in problems] == [("gone", "red"), ("cut", "scl")]
    assert problems[0].href == str(tmp_path / "missing.tif")
    assert "No such file" in problems[0].error
    assert "TIFFReadEncodedTile" in problems[1].error or "Read" in problems[1].error
    assert set(problems[0].to_dict()) == {"item_id", "asset", "href", "error"}


def test_transient_errors_are_retried_with_backoff_and_permanent_ones_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: dict[str, int] = {}
    sleeps: list[float] = []
    monkeypatch.setattr("fusion.ingest.assets.time.sleep", sleeps.append)

    def opener(href: str) -> None:
        calls[href] = calls.get(href, 0) + 1
        if href.endswith("flaky.tif") and calls[href] < 3:
            raise RasterioIOError(f"{href}: HTTP response code: 503")
        if href.endswith("gone.tif"):
            raise RasterioIOError(f"{href}: HTTP response code: 404")

    items = [
        _item("flaky", {"*": "https://x.test/ok.tif", "red": "https://x.test/flaky.tif"}),
        _item("gone", {"*": "https://x.test/ok.tif", "nir08": "https://x.test/gone.tif"}),
    ]
    retry = RetryPolicy(retries=3, delay_s=0.5, backoff=2.0)
    problems = probe_assets(items, {"sentinel-2-l2a": S2}, opener=opener, retry=retry, workers=1)
    assert [(p.item_id, p.asset) for p in problems] == [("gone", "nir08")]
    assert calls["https://x.test/flaky.tif"] == 3  # two 503s, then it opened
    assert calls["https://x.test/gone.tif"] == 1  # a 404 does not get better
    assert sleeps == [0.5, 1.0]


def test_signed_hrefs_never_reach_problems(tmp_path: Path) -> None:
    def opener(href: str) -> None:
        # GDAL names the URL it was given: the signed one.
        raise RasterioIOError(f"'/vsicurl/{href}' not recognized as being in a supported format")

    unsigned = SIGNED.split("?")[0]
    problems = probe_assets(
        [_item("pc", {"*": unsigned})],
        {"sentinel-2-l2a": S2},
        patch_url=lambda href: f"{href}?st=2026-01-01&sig=S3CRET%3D",
        opener=opener,
        retry=NO_WAIT,
    )
    assert len(problems) == 7  # six bands and SCL
    for problem in problems:
        assert "S3CRET" not in str(problem.to_dict()) and "sig=" not in str(problem.to_dict())
        assert problem.href == unsigned and unsigned in problem.error


def test_scrub_and_describe() -> None:
    assert scrub(f"cannot open {SIGNED}: 403") == f"cannot open {SIGNED.split('?')[0]}: 403"
    assert scrub("/data/a.tif: No such file") == "/data/a.tif: No such file"
    cause = RuntimeError("a.tif, band 1: IReadBlock failed")
    error = RasterioIOError("Read failed. See previous exception for details.")
    error.__cause__ = cause
    assert describe(error) == "a.tif, band 1: IReadBlock failed"


def test_open_asset_reads_a_good_cog(tmp_path: Path) -> None:
    open_asset(str(_cog(tmp_path / "a.tif")))  # no exception


def test_load_graph_carries_the_gdal_read_settings(tmp_path: Path) -> None:
    """odc-stac captures the GDAL environment at load time into the tasks (so the settings
    reach dask workers); the load must be built under GDAL_READ_ENV."""
    good = _cog(tmp_path / "b.tif", size=60)
    item = _item("S2A_35NKA_20240101_0_L2A", {"*": str(good)})
    item.properties.update({"platform": "sentinel-2a", "s2:processing_baseline": "05.10"})
    gbox = GeoBox.from_bbox((0, 0, 600, 600), "EPSG:32635", resolution=10)
    footprint = gbox.extent.to_crs("EPSG:4326")
    item.geometry, item.bbox = footprint.json, list(footprint.boundingbox.bbox)
    ds = load_sensor([item], {"sentinel-2-l2a": S2}, geobox=gbox)
    graph = dict(ds["reflectance"].data.__dask_graph__())
    text = repr(list(graph.values()))
    for key, value in GDAL_READ_ENV.items():
        assert f"'{key}': '{value}'" in text, key
