"""fuse_files: GeoTIFF in, COGs (reflectance + sigma) out, for `fusion fuse`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from _model_helpers import scene

from fusion.bands import CANONICAL_BANDS
from fusion.errors import ModelInputError
from fusion.model.cli import fuse_files


def _write(arr, path: Path, *, descriptions: bool = True) -> Path:  # type: ignore[no-untyped-def]
    gbox = arr.odc.geobox
    profile = {"driver": "GTiff", "width": gbox.width, "height": gbox.height, "count": 6, "dtype": "float32",
               "crs": "EPSG:32734", "transform": gbox.affine, "nodata": float("nan")}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr.values.astype(np.float32))
        if descriptions:
            dst.descriptions = tuple(CANONICAL_BANDS)
    return path


def test_fuse_files_writes_reflectance_and_sigma(tiny_weights: Path, tmp_path: Path) -> None:
    landsat, guide = scene(9, 12)
    landsat[:, 0, 0] = np.nan
    lt = _write(landsat, tmp_path / "l.tif")
    gt = _write(guide, tmp_path / "g.tif", descriptions=False)
    out = fuse_files(lt, gt, tmp_path / "out.tif", weights=tiny_weights, guide_dt_days=3)
    with rasterio.open(out) as src:
        assert src.count == 6 and src.shape == (27, 36) and src.res == (10.0, 10.0)
        assert src.descriptions == tuple(CANONICAL_BANDS)
        refl = src.read()
    blocks = refl.reshape(6, 9, 3, 12, 3).mean(axis=(2, 4))
    ok = np.isfinite(landsat.values)
    assert np.abs(blocks[ok] - landsat.values[ok]).max() < 1e-4
    with rasterio.open(tmp_path / "out_sigma.tif") as src:
        assert (src.read()[np.isfinite(src.read())] > 0).all()


def test_fuse_files_records_how_the_scene_was_adapted(tiny_weights: Path, tmp_path: Path) -> None:
    landsat, guide = scene(9, 12)
    lt, gt = _write(landsat, tmp_path / "l.tif"), _write(guide, tmp_path / "g.tif")
    out = fuse_files(lt, gt, tmp_path / "a.tif", weights=tiny_weights, guide_dt_days=3)
    with rasterio.open(out) as src:
        tags = src.tags()
    # A 9 × 12 scene is too small for either estimate: nothing moved, the learnt readout kept.
    assert tags["fusion_adapt"] == "on" and tags["fusion_readout"] == "learnt"
    assert [float(v) for v in tags["fusion_guide_shift_px"].split()] == [0.0, 0.0]
    plain = fuse_files(lt, gt, tmp_path / "p.tif", weights=tiny_weights, adapt=False)
    with rasterio.open(plain) as src:
        assert src.tags()["fusion_adapt"] == "off" and "fusion_readout" not in src.tags()


def test_fuse_files_rejects_wrong_band_count(tiny_weights: Path, tmp_path: Path) -> None:
    landsat, _ = scene(6, 6)
    path = tmp_path / "bad.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=6, count=3, dtype="float32",
                       crs="EPSG:32734", transform=landsat.odc.geobox.affine) as dst:  # fmt: skip
        dst.write(landsat.values[:3])
    with pytest.raises(ModelInputError, match="3 bands"):
        fuse_files(path, None, tmp_path / "o.tif", weights=tiny_weights)
