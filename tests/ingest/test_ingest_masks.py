"""QA_PIXEL decoding, SCL classes and chunk-independent mask dilation."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.ingest.masks import (
    QA_CLOUD,
    QA_DILATED_CLOUD,
    QA_FILL,
    SCL_INVALID_DEFAULT,
    buffer_pixels,
    dilate,
    disk,
    qa_bit,
    qa_confidence,
    qa_pixel_invalid,
    scl_invalid,
)

COLOMBIA = "landsat-c2l2-colombia-qa"
SCENE = "LC08_L2SP_008059_20191201_20200825_02_T1"


def test_qa_pixel_bits() -> None:
    # Real C2 codes: 21824 clear land, 21952 clear water, 22280 high-confidence cloud,
    # 23888 cloud shadow, 55052 cirrus + cloud, 1 fill; 30048 snow (bit 5).
    codes = np.array([21824, 21952, 22280, 23888, 55052, 1, 30048], dtype=np.uint16)
    assert qa_pixel_invalid(codes).tolist() == [False, False, True, True, True, True, True]
    assert qa_pixel_invalid(codes, mask_snow=False).tolist()[-1] is False
    assert qa_bit(codes, QA_FILL).tolist() == [False] * 5 + [True, False]
    assert qa_confidence(codes, "cloud").tolist()[:3] == [1, 1, 3]


def test_scl_classes() -> None:
    scl = np.arange(12, dtype=np.uint8)
    assert np.flatnonzero(scl_invalid(scl)).tolist() == sorted(SCL_INVALID_DEFAULT)
    assert np.flatnonzero(~scl_invalid(scl)).tolist() == [4, 5, 6]
    lenient = scl_invalid(scl, invalid_classes={0, 1, 3, 8, 9, 10, 11})
    assert not lenient[2] and not lenient[7]
    assert scl_invalid(da.from_array(scl, chunks=5)).compute().tolist() == scl_invalid(scl).tolist()


@pytest.mark.shared_data
def test_colombia_qa_cloud_cover_matches_reported(shared_data: Path) -> None:
    folder = shared_data / COLOMBIA
    with rasterio.open(folder / f"{SCENE}_QA_PIXEL.TIF") as src:
        qa = src.read(1)
    item = json.loads((folder / f"{SCENE}_SR_stac.json").read_text())
    reported = item["properties"]["eo:cloud_cover"]
    mtl = (folder / f"{SCENE}_MTL.txt").read_text()
    assert f"CLOUD_COVER = {reported}" in mtl  # 81.02 in both
    fill = qa_bit(qa, QA_FILL)
    scene = ~fill
    cloud = 100 * (qa_bit(qa, QA_CLOUD) & scene).sum() / scene.sum()
    invalid = 100 * (qa_pixel_invalid(qa) & scene).sum() / scene.sum()
    print(
        f"\nColombia QA_PIXEL (512×512 resample): {scene.sum()} scene pixels, "
        f"cloud bit {cloud:.2f} %, all invalid (cloud, dilated, cirrus, shadow, snow) "
        f"{invalid:.2f} %, reported CLOUD_COVER {reported} %"
    )
    # USGS's CLOUD_COVER counts CFMask cloud over the full-resolution scene; resampling the
    # 7.7k×7.8k scene to 512×512 (~450 m, nearest) keeps a sample of ~0.2 M pixels, so the
    # percentage may drift by a few tenths; 1.5 points leaves room and still fails on any
    # wrong bit (cirrus alone, or shadow, would be off by > 3 points).
    assert abs(cloud - reported) < 1.5
    assert invalid >= cloud


def test_buffer_pixels() -> None:
    assert buffer_pixels(60, 30) == 2
    assert buffer_pixels(60, 10) == 6
    assert buffer_pixels(50, 30) == 2  # rounded up: never under-mask
    assert buffer_pixels(0, 10) == 0


def test_dilate_matches_disk() -> None:
    mask = np.zeros((1, 21, 21), dtype=bool)
    mask[0, 10, 10] = True
    grown = dilate(mask, 3)
    assert np.array_equal(grown[0, 7:14, 7:14], disk(3))
    assert grown.sum() == disk(3).sum()


def _random_mask(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) > 0.995


@pytest.mark.parametrize("chunks", [(1, 64, 64), (1, 17, 23)])
def test_dilate_dask_matches_numpy_for_two_chunkings(chunks: tuple[int, int, int]) -> None:
    mask = _random_mask(0, (2, 96, 80))
    expected = dilate(mask, 6)
    lazy = dilate(da.from_array(mask, chunks=chunks), 6)
    assert isinstance(lazy, da.Array)
    assert np.array_equal(lazy.compute(), expected)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    radius=st.integers(0, 4),
    cy=st.integers(4, 30),
    cx=st.integers(4, 30),
)
def test_dilate_is_chunk_independent(seed: int, radius: int, cy: int, cx: int) -> None:
    mask = _random_mask(seed, (1, 40, 44))
    mask[0, 0, :3] = True  # touch the array edge: outside counts as clear on both paths
    out = dilate(da.from_array(mask, chunks=(1, cy, cx)), radius).compute()
    assert np.array_equal(out, dilate(mask, radius))


def test_dilated_cloud_margin_is_valid_unless_asked() -> None:
    qa = np.array([1 << QA_DILATED_CLOUD, 1 << QA_CLOUD, 0], dtype=np.uint16)
    assert qa_pixel_invalid(qa).tolist() == [False, True, False]
    assert qa_pixel_invalid(qa, mask_dilated_cloud=True).tolist() == [True, True, False]
