"""Small reads of the run's rasters for the report: decimated through the COG overviews.

Every reader takes the output folder and the manifest's relative paths, and returns numpy
arrays with their extent (left, right, bottom, top) in the raster's CRS, ready for
``matplotlib.pyplot.imshow``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from shapely.geometry.base import BaseGeometry

QUICKLOOK_PX = 600
"""Longest side of a quicklook, pixels: enough for a page, a few hundred kB as PNG."""


def tile_px(tiles: int) -> int:
    """Longest side of each tile's quicklook when ``tiles`` tiles share one map."""
    return max(64, int(QUICKLOOK_PX / max(1.0, tiles**0.5)))


# Red, green, blue bands of composite.tif and their display maxima (as its QGIS style).
RGB_BANDS = (3, 2, 1)
RGB_MAXIMA = (0.08, 0.1, 0.06)


@dataclass(frozen=True)
class Layer:
    """A decimated raster: ``data`` (bands, y, x) or (y, x), its extent and CRS."""

    data: np.ndarray
    extent: tuple[float, float, float, float]
    """left, right, bottom, top (matplotlib's order)."""
    crs: str


def read_layer(
    path: Path,
    *,
    bands: tuple[int, ...] | int = 1,
    max_px: int = QUICKLOOK_PX,
    resampling: Resampling = Resampling.nearest,
) -> Layer:
    """``bands`` of ``path`` read at most ``max_px`` on the longest side; nodata → NaN."""
    with rasterio.open(path) as src:
        shape = _decimated(src.width, src.height, max_px)
        indexes = list(bands) if isinstance(bands, tuple) else [bands]
        data = src.read(
            indexes, out_shape=(len(indexes), *shape), resampling=resampling, masked=True
        )
        if not isinstance(bands, tuple):
            data = data[0]
        b = src.bounds
        return Layer(
            data=np.ma.filled(data.astype(np.float32), np.nan),
            extent=(b.left, b.right, b.bottom, b.top),
            crs=str(src.crs),
        )


def rgb_quicklook(path: Path, *, max_px: int = QUICKLOOK_PX) -> Layer:
    """RGBA (y, x, 4) of a composite, stretched as its QGIS style; transparent where no data."""
    layer = read_layer(path, bands=RGB_BANDS, max_px=max_px, resampling=Resampling.average)
    rgb = np.stack([layer.data[i] / m for i, m in enumerate(RGB_MAXIMA)], axis=-1)
    alpha = np.isfinite(rgb).all(-1).astype(np.float32)
    rgba = np.concatenate([np.clip(np.nan_to_num(rgb), 0, 1), alpha[..., None]], axis=-1)
    return Layer(data=rgba, extent=layer.extent, crs=layer.crs)


def values_inside(
    path: Path, geometry: BaseGeometry | None, *, band: int = 1, max_px: int = 1000
) -> np.ndarray:
    """Valid values of ``band`` inside ``geometry`` (raster CRS), 1-D; read at most ``max_px``
    on the longest side (nearest: a regular sample of the pixels, enough for a histogram)."""
    with rasterio.open(path) as src:
        shape = _decimated(src.width, src.height, max_px)
        data = src.read(band, out_shape=shape, masked=True, resampling=Resampling.nearest)
        keep = ~np.ma.getmaskarray(data)
        if geometry is not None:
            # The decimated grid's transform: rasterio's idiom for reads with out_shape.
            transform = src.transform * src.transform.scale(
                src.width / shape[1], src.height / shape[0]
            )
            keep &= ~geometry_mask([geometry], out_shape=shape, transform=transform)
        return np.asarray(data.data[keep])


def _decimated(width: int, height: int, max_px: int) -> tuple[int, int]:
    """(rows, cols) of a read at most ``max_px`` on the longest side, aspect kept."""
    scale = max(1.0, max(width, height) / max_px)
    return max(1, round(height / scale)), max(1, round(width / scale))


def median_of(paths: list[Path], *, band: int, max_px: int = QUICKLOOK_PX) -> Layer | None:
    """Per-pixel median over ``paths`` (same grid) of one band; None without paths."""
    if not paths:
        return None
    layers = [read_layer(p, bands=band, max_px=max_px) for p in paths]
    stack = np.stack([layer.data for layer in layers])
    with warnings.catch_warnings():
        # A pixel with no value on any date (outside the AOI) stays NaN; nanmedian warns.
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(stack, axis=0)
    return Layer(data=median.astype(np.float32), extent=layers[0].extent, crs=layers[0].crs)
