"""load_sensor on synthetic GeoTIFFs + Earth Search v1 style STAC items written in a tmp dir."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dask.array as da
import numpy as np
import pystac
import pytest
from ingest_helpers import CRS, make_item, smooth_field, tile_geobox
from odc.geo.geobox import GeoBox

from fusion.bands import CANONICAL_BANDS
from fusion.errors import (
    IngestError,
    ItemMetadataError,
    PhysicalRangeError,
    ScaleOffsetMismatchWarning,
)
from fusion.ingest.bandpass import HLS_S2A, HLS_S2B
from fusion.ingest.checks import check_physical_range
from fusion.ingest.items import EARTH_SEARCH_V1
from fusion.ingest.load import load_sensor
from fusion.ingest.masks import QA_CLEAR, QA_CLOUD, QA_CLOUD_SHADOW, QA_DILATED_CLOUD, disk

TILE = tile_geobox()  # 180 × 150 px at 10 m
TILE30 = TILE.zoom_out(3)
X0, Y0, X1, Y1 = TILE.extent.boundingbox.bbox


def _truth(shape: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    """Reflectance 0.01–0.41 per band (dark enough for the range check's dark-pixel test)."""
    return {
        b: (0.01 + 0.4 * smooth_field(shape, seed=seed + i)).astype(np.float32)
        for i, b in enumerate(CANONICAL_BANDS)
    }


def _when(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2023, 1, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def landsat(tmp_path_factory: pytest.TempPathFactory) -> tuple[pystac.Item, dict[str, np.ndarray]]:
    """One Landsat scene, 30 m, 10 px beyond the tile: a cloud, a shadow, a fill strip, a
    nodata hole."""
    scene = GeoBox.from_bbox((X0 - 300, Y0 - 300, X1 + 300, Y1 + 300), crs=CRS, resolution=30)
    truth = _truth(scene.shape, seed=1)
    dn = {b: np.round((r + 0.2) / 2.75e-5).astype(np.uint16) for b, r in truth.items()}
    qa = np.full(scene.shape, 1 << QA_CLEAR, dtype=np.uint16)
    qa[30, 40] = 1 << QA_CLOUD  # tile pixel (20, 30)
    qa[30, 45] = 1 << QA_DILATED_CLOUD  # tile pixel (20, 35): CFMask's margin, kept
    qa[45, 25] = 1 << QA_CLOUD_SHADOW  # tile pixel (35, 15)
    qa[:, :15] = 1  # fill: the first 5 tile columns
    dn["red"][40, 50] = 0  # nodata in one band only: tile pixel (30, 40)
    folder = tmp_path_factory.mktemp("landsat")
    item = make_item(
        folder,
        sensor="landsat",
        item_id="LC08_SYN_1",
        when=_when(5),
        dn=dn,
        quality=qa,
        geobox=scene,
    )
    return item, {b: r[10:-10, 10:-10] for b, r in truth.items()}


def test_landsat_reflectance_masks_and_grid(
    landsat: tuple[pystac.Item, dict[str, np.ndarray]],
) -> None:
    item, truth = landsat
    ds = load_sensor([item], EARTH_SEARCH_V1, geobox=TILE30)
    refl = ds["reflectance"]
    assert refl.dims == ("time", "band", "y", "x")
    assert refl.dtype == np.float32 and isinstance(refl.data, da.Array)
    assert tuple(refl["band"].values) == CANONICAL_BANDS
    assert refl.odc.geobox == TILE30
    assert ds["item_id"].values.tolist() == ["LC08_SYN_1"]
    assert ds["platform"].values.tolist() == ["landsat-8"]
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    got = refl.values[0]
    expected = np.stack([truth[b] for b in CANONICAL_BANDS])
    # Cloud at (20, 30) and shadow at (35, 15) dilated by 60 m = 2 px (a disk), all bands;
    # CFMask's dilated-cloud pixel at (20, 35) stays valid; fill columns 0-4, undilated.
    invalid = np.zeros(TILE30.shape, dtype=bool)
    invalid[18:23, 28:33] = disk(2)
    invalid[33:38, 13:18] = disk(2)
    invalid[:, :5] = True
    expected[:, invalid] = np.nan
    expected[2, 30, 40] = np.nan  # red nodata only
    np.testing.assert_allclose(got, expected, atol=2e-5)  # DN quantisation: 2.75e-5
    assert np.isnan(got[:, 20, 32]).all() and np.isfinite(got[:, 20, 33]).all()
    assert np.isfinite(got[:, 20, 35]).all()
    assert np.isnan(got[:, 35, 17]).all() and np.isfinite(got[:, 35, 18]).all()
    assert np.isfinite(got[:, 30, 5]).all()
    assert np.isfinite(got[[0, 1, 3, 4, 5], 30, 40]).all()
    valid = ~np.isnan(expected).any(axis=0)
    assert float(ds["valid_fraction"][0]) == pytest.approx(valid.mean(), abs=1e-6)


def _s2_item(
    folder: Path,
    item_id: str,
    when: dt.datetime,
    scene: GeoBox,
    truth: dict[str, np.ndarray],
    *,
    platform: str,
    baseline: str,
    dn_offset: int,
    scl_edit: tuple[slice, slice, int] | None = None,
) -> pystac.Item:
    dn = {b: np.round(r * 10_000 + dn_offset).astype(np.uint16) for b, r in truth.items()}
    scl_box = scene.zoom_out(2)  # SCL is a 20 m product
    scl = np.full(scl_box.shape, 4, dtype=np.uint8)
    if scl_edit is not None:
        rows, cols, value = scl_edit
        scl[rows, cols] = value
    return make_item(
        folder, sensor="sentinel2", item_id=item_id, when=when, dn=dn, quality=scl,
        geobox=scene, quality_geobox=scl_box, platform=platform, baseline=baseline,
        raster_offset=-0.1 if dn_offset else 0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sentinel2(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[pystac.Item], dict[str, np.ndarray]]:
    """Two adjacent S2A tiles on day 3 (west/east halves) and one S2B scene on day 8.

    Ids sort opposite to time, and the day-8 scene is baseline 03.00 (offset 0) while the
    day-3 tiles are 05.11 (offset −0.1): each slice must get its own item's offset.
    """
    folder = tmp_path_factory.mktemp("s2")
    full = GeoBox.from_bbox((X0 - 120, Y0 - 120, X1 + 120, Y1 + 120), crs=CRS, resolution=10)
    truth = _truth(full.shape, seed=7)
    west = full[:, : full.width // 2]
    east = full[:, full.width // 2 :]
    half = full.width // 2
    items = [
        _s2_item(folder, "S2A_Z_WEST", _when(3), west, {b: r[:, :half] for b, r in truth.items()},
                 platform="sentinel-2a", baseline="05.11", dn_offset=1000,
                 scl_edit=(slice(40, 41), slice(30, 31), 9)),  # cloud at tile (58..59, 48..49)
        _s2_item(folder, "S2A_Y_EAST", _when(3, 10), east, {b: r[:, half:] for b, r in truth.items()},
                 platform="sentinel-2a", baseline="05.11", dn_offset=1000,
                 scl_edit=(slice(0, 200), slice(40, 200), 0)),  # nodata from tile column 170
        _s2_item(folder, "S2B_A_LATER", _when(8), full, truth,
                 platform="sentinel-2b", baseline="03.00", dn_offset=0),
    ]  # fmt: skip
    return items, {b: r[12:-12, 12:-12] for b, r in truth.items()}


def test_sentinel2_scaling_bandpass_masks_and_merge(
    sentinel2: tuple[list[pystac.Item], dict[str, np.ndarray]],
) -> None:
    items, truth = sentinel2
    ds = load_sensor(items, EARTH_SEARCH_V1, geobox=TILE)
    refl = ds["reflectance"]
    assert refl.odc.geobox == TILE
    assert ds["item_id"].values.tolist() == ["S2A_Z_WEST+S2A_Y_EAST", "S2B_A_LATER"]
    assert ds["platform"].values.tolist() == ["sentinel-2a", "sentinel-2b"]
    assert ds["dn_offset"].values.tolist() == pytest.approx([-0.1, 0.0])
    got = refl.values
    for t, coefs in enumerate((HLS_S2A, HLS_S2B)):
        expected = np.stack([coefs[b][0] * truth[b] + coefs[b][1] for b in CANONICAL_BANDS])
        if t == 0:
            # SCL 9 at 20 m pixel (40, 30) → 10 m tile pixels (68..69, 48..49), dilated by 6 px.
            cloud = np.zeros(TILE.shape, dtype=bool)
            cloud[68:70, 48:50] = True
            from scipy import ndimage

            cloud = ndimage.binary_dilation(cloud, structure=disk(6))
            expected[:, cloud] = np.nan
            expected[:, :, 170:] = np.nan  # SCL nodata, not dilated
        np.testing.assert_allclose(got[t], expected, atol=1e-4)  # DN quantisation: 1e-4
    # The seam between the two day-3 tiles is filled from both sides.
    assert np.isfinite(got[0, :, :, 75:95]).all()


def test_two_chunkings_agree(sentinel2: tuple[list[pystac.Item], dict[str, np.ndarray]]) -> None:
    items, _ = sentinel2
    big = load_sensor(items, EARTH_SEARCH_V1, geobox=TILE)["reflectance"]
    small = load_sensor(items, EARTH_SEARCH_V1, geobox=TILE, chunks={"x": 47, "y": 40})[
        "reflectance"
    ]
    assert small.data.chunksize[2:] == (40, 47)
    np.testing.assert_array_equal(big.values, small.values)


def test_range_check_names_item_with_wrong_offset(
    tmp_path: Path,
    landsat: tuple[pystac.Item, dict[str, np.ndarray]],
    sentinel2: tuple[list[pystac.Item], dict[str, np.ndarray]],
) -> None:
    items, _ = sentinel2
    ok = load_sensor(items, EARTH_SEARCH_V1, geobox=TILE)
    stats = check_physical_range(ok, min_valid=1000)
    assert (stats["out_of_range_fraction"] == 0).all()
    # A baseline-04.00 scene whose catalogue claims 03.00: offset 0 on DNs that carry +1000.
    full = GeoBox.from_bbox((X0, Y0, X1, Y1), crs=CRS, resolution=10)
    truth = _truth(full.shape, seed=3)
    wrong = _s2_item(tmp_path, "S2A_WRONG_BASELINE", _when(12), full, truth,
                     platform="sentinel-2a", baseline="03.00", dn_offset=1000)  # fmt: skip
    with pytest.warns(ScaleOffsetMismatchWarning, match="S2A_WRONG_BASELINE"):
        bad = load_sensor([*items, wrong], EARTH_SEARCH_V1, geobox=TILE)
    with pytest.raises(
        PhysicalRangeError, match=r"S2A_WRONG_BASELINE.*offset applied: 0.*not applied"
    ) as err:
        check_physical_range(bad, min_valid=1000)
    assert "S2B_A_LATER" not in str(err.value)
    # A Landsat item whose raster:bands offset is wrong (−0.4): most pixels below −0.05.
    item, _ = landsat
    broken = item.clone()
    broken.id = "LC08_WRONG_OFFSET"
    for key in CANONICAL_BANDS:
        broken.assets[key].extra_fields["raster:bands"] = [
            {"nodata": 0, "data_type": "uint16", "scale": 2.75e-5, "offset": -0.4}
        ]
    ls = load_sensor([broken], EARTH_SEARCH_V1, geobox=TILE30)
    with pytest.raises(PhysicalRangeError, match=r"item LC08_WRONG_OFFSET: .*% below"):
        check_physical_range(ls)


def test_load_errors(
    landsat: tuple[pystac.Item, dict[str, np.ndarray]],
    sentinel2: tuple[list[pystac.Item], dict[str, np.ndarray]],
) -> None:
    item, _ = landsat
    with pytest.raises(IngestError, match="separately"):
        load_sensor([item, sentinel2[0][0]], EARTH_SEARCH_V1, geobox=TILE30)
    with pytest.raises(ItemMetadataError, match=r"LC08_SYN_1.*landsat-c2-l2.*no band mapping"):
        load_sensor([item], {}, geobox=TILE30)
    with pytest.raises(IngestError, match="no items"):
        load_sensor([], EARTH_SEARCH_V1, geobox=TILE30)
