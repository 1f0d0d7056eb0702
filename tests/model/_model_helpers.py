"""Helpers of the model tests: tiny random-weight networks and georeferenced test arrays."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.bands import CANONICAL_BANDS
from fusion.model.network import FusionNet, NetConfig

TINY = NetConfig(channels=8, blocks=1)


def random_model(cfg: NetConfig = TINY, seed: int = 0) -> FusionNet:
    """A network with random (not trained) weights that still mixes inputs everywhere."""
    torch.manual_seed(seed)
    model = FusionNet(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
        model.band_mean.copy_(torch.tensor([0.03, 0.06, 0.05, 0.3, 0.18, 0.1]))
        model.band_std.copy_(torch.tensor([0.02, 0.025, 0.04, 0.07, 0.06, 0.06]))
    return model


def geobox30(h: int, w: int, *, res: float = 30.0) -> GeoBox:
    """A UTM grid of h×w pixels of ``res`` metres (origin on a multiple of 90 m)."""
    return GeoBox((h, w), Affine(res, 0, 300_060, 0, -res, 9_900_090 + res * h), "EPSG:32734")


def wrap(values: np.ndarray, gbox: GeoBox) -> xr.DataArray:
    coords = dict(xr_coords(gbox, crs_coord_name="spatial_ref"))
    coords["band"] = xr.DataArray(list(CANONICAL_BANDS), dims="band")
    return xr.DataArray(values, dims=("band", "y", "x"), coords=coords)


def scene(h: int, w: int, *, seed: int = 0, res: float = 30.0) -> tuple[xr.DataArray, xr.DataArray]:
    """A Landsat-like array (h, w) and a guide (3h, 3w) whose block mean is near it."""
    rng = np.random.default_rng(seed)
    base = np.array([0.03, 0.06, 0.05, 0.3, 0.18, 0.1], np.float32)[:, None, None]
    guide = (base * (1 + 0.3 * rng.standard_normal((6, 3 * h, 3 * w)))).astype(np.float32)
    blocks = guide.reshape(6, h, 3, w, 3).mean(axis=(2, 4))
    landsat = (blocks + 0.002 * rng.standard_normal(blocks.shape)).astype(np.float32)
    g30 = geobox30(h, w, res=res)
    return wrap(landsat, g30), wrap(guide, g30.zoom_to((3 * h, 3 * w)))
