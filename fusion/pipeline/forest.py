"""A user-supplied forest mask (``--forest-mask``) on a tile's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject
from rasterio.errors import RasterioIOError

from fusion.errors import ConfigError


def load_forest_mask(path: Path, geobox: GeoBox) -> xr.DataArray:
    """``(y, x)`` bool forest mask on ``geobox`` from a raster in any CRS and resolution.

    Non-zero valid pixels are forest; nodata and pixels outside the raster are not. Resampled
    by nearest neighbour for 10 m or coarser masks and by mode for finer ones (a class, not a
    quantity).

    Raises:
        ConfigError: the file cannot be read, has no CRS, or does not overlap the tile.
    """
    try:
        raster = rioxarray.open_rasterio(path, masked=True)
    except (RasterioIOError, OSError) as exc:
        raise ConfigError(
            f"forest mask {path}: cannot be read ({exc}); give a GeoTIFF (non-zero = forest)"
        ) from exc
    assert isinstance(raster, xr.DataArray)
    if raster.rio.crs is None:
        raise ConfigError(
            f"forest mask {path}: the raster has no CRS; assign one (gdal_edit.py -a_srs) and rerun"
        )
    band = raster.isel(band=0, drop=True)
    forest = xr.where(band.notnull(), (band != 0).astype(np.float32), np.nan)
    forest = forest.rio.write_crs(raster.rio.crs)
    finer = abs(float(raster.rio.resolution()[0])) < float(geobox.resolution.x)
    resampling = "mode" if finer else "nearest"
    on_grid = xr_reproject(forest, geobox, resampling=resampling, dst_nodata=np.nan)
    values = np.asarray(on_grid.values)
    if not np.isfinite(values).any():
        raise ConfigError(
            f"forest mask {path}: does not overlap tile at {geobox.extent.boundingbox}; give a "
            "mask that covers the AOI"
        )
    return on_grid.fillna(0).astype(bool).rename("forest")
