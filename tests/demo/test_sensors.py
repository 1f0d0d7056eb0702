"""Radiometry and geometry of the simulated scenes, on a cloud-free world."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import rasterio
from demo_helpers import facts, item_documents
from skimage.registration import phase_cross_correlation

from fusion.demo import DemoCatalog, demo_truth
from fusion.demo.sensors import QA_CLEAR, QA_CLOUD, QA_SHADOW, QA_WATER, block_mean
from fusion.demo.spectra import msi_to_oli

BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")


def _read(href: str) -> np.ndarray:
    with rasterio.open(href) as src:
        return src.read(1)


def _truth(catalog: DemoCatalog, doc: dict[str, Any]) -> np.ndarray:
    return demo_truth(catalog, dt.date.fromisoformat(doc["properties"]["datetime"][:10])).values


def _s2_as_oli(doc: dict[str, Any]) -> np.ndarray:
    """DN → reflectance (scale/offset of the item), 20 m bands replicated to 10 m, HLS forward."""
    stack = []
    for band in BANDS:
        raster = doc["assets"][band]["raster:bands"][0]
        values = _read(doc["assets"][band]["href"]) * raster["scale"] + raster["offset"]
        if raster["spatial_resolution"] == 20:
            values = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
        stack.append(values)
    return msi_to_oli(np.stack(stack).astype(np.float32), doc["properties"]["platform"])


def test_sentinel2_dn_round_trip(clear_catalog: DemoCatalog) -> None:
    docs = [d for d in item_documents(clear_catalog) if d["collection"] == "sentinel-2-l2a"]
    assert {d["properties"]["platform"] for d in docs} == {"sentinel-2a", "sentinel-2b"}
    for doc in docs[:4]:
        truth, seen = _truth(clear_catalog, doc), _s2_as_oli(doc)
        assert np.isin(_read(doc["assets"]["scl"]["href"]), [4, 5, 6]).all()  # all clear
        for i, band in enumerate(BANDS):
            error = seen[i] - truth[i]
            # Unbiased; per pixel within noise (0.004) plus MTF blur and sub-pixel shift of the
            # canopy texture; at 30 m the texture averages out.
            assert abs(float(np.mean(error))) < 0.0015, (doc["id"], band)
            assert np.median(np.abs(error)) < 0.02, (doc["id"], band)
            coarse = block_mean(seen[i], 6) - block_mean(truth[i], 6)
            assert np.median(np.abs(coarse)) < 0.004, (doc["id"], band)


def test_landsat_dn_round_trip(clear_catalog: DemoCatalog) -> None:
    docs = [d for d in item_documents(clear_catalog) if d["collection"] == "landsat-c2-l2"]
    assert {d["properties"]["platform"] for d in docs} == {"landsat-8", "landsat-9"}
    for doc in docs:
        truth30 = block_mean(_truth(clear_catalog, doc), 3)
        qa = _read(doc["assets"]["qa_pixel"]["href"])
        assert set(np.unique(qa)) <= {QA_CLEAR, QA_WATER}
        for i, band in enumerate(BANDS):
            raster = doc["assets"][band]["raster:bands"][0]
            assert (raster["scale"], raster["offset"]) == (2.75e-5, -0.2)
            seen = _read(doc["assets"][band]["href"]) * raster["scale"] + raster["offset"]
            error = seen - truth30[i]
            assert abs(float(np.mean(error))) < 0.0015, (doc["id"], band)
            assert np.median(np.abs(error)) < 0.015, (doc["id"], band)


def test_landsat_and_sentinel2_share_the_grid(clear_catalog: DemoCatalog) -> None:
    """Features land on the same pixels in both sensors, up to the simulated shifts."""
    docs = item_documents(clear_catalog)
    known = facts(clear_catalog)
    s2 = next(d for d in docs if d["collection"] == "sentinel-2-l2a")
    landsat = next(d for d in docs if d["collection"] == "landsat-c2-l2")
    s2_red = block_mean(_s2_as_oli(s2)[BANDS.index("red")], 3)
    l_red = _read(landsat["assets"]["red"]["href"]) * 2.75e-5 - 0.2
    assert s2_red.shape == l_red.shape
    # Bright features (roads, villages, fallow farms) fall on the same 30 m pixels: the
    # brightest 3 % of each image nearly coincide.
    top_s2 = s2_red > np.percentile(s2_red, 97)
    top_l = l_red > np.percentile(l_red, 97)
    overlap = (top_s2 & top_l).sum() / (top_s2 | top_l).sum()
    # Moving Landsat by one pixel breaks that: the test can fail.
    moved = np.roll(top_l, 1, axis=1)
    overlap_moved = (top_s2 & moved).sum() / (top_s2 | moved).sum()
    assert overlap > 0.5 and overlap_moved < 0.4
    # Measured offset (rows, cols at 30 m) ≈ difference of the simulated shifts.
    offset, _, _ = phase_cross_correlation(l_red, s2_red, upsample_factor=20)
    ls, ss = known[landsat["id"]], known[s2["id"]]
    expected_rows = -(ls["shift_dy_m"] - ss["shift_dy_m"]) / 30
    expected_cols = (ls["shift_dx_m"] - ss["shift_dx_m"]) / 30
    assert abs(offset[0] - expected_rows) < 0.15 and abs(offset[1] - expected_cols) < 0.15


def test_cloudy_scenes_flag_clouds_and_shadows(small_catalog: DemoCatalog) -> None:
    docs = item_documents(small_catalog)
    landsat = max(
        (d for d in docs if d["collection"] == "landsat-c2-l2"),
        key=lambda d: 50 - abs(d["properties"]["eo:cloud_cover"] - 50),
    )
    qa = _read(landsat["assets"]["qa_pixel"]["href"])
    assert {QA_CLEAR, QA_CLOUD, QA_SHADOW} <= set(np.unique(qa))
    s2 = [d for d in docs if d["collection"] == "sentinel-2-l2a"]
    classes = set()
    for doc in s2:
        classes |= set(np.unique(_read(doc["assets"]["scl"]["href"])).tolist())
    assert {3, 4, 8, 9} <= classes and classes <= {3, 4, 5, 6, 8, 9, 10}
    # Cloudy pixels are bright in the blue, clear forest is dark.
    doc = max(s2, key=lambda d: 50 - abs(d["properties"]["eo:cloud_cover"] - 50))
    scl = np.repeat(np.repeat(_read(doc["assets"]["scl"]["href"]), 2, 0), 2, 1)
    blue = _read(doc["assets"]["blue"]["href"]) * 1e-4 - 0.1
    assert np.median(blue[scl == 9]) > 0.25 and np.median(blue[scl == 4]) < 0.06
