"""Cloud-optimised GeoTIFFs that open cleanly in QGIS.

Every COG carries its CRS, nodata, band descriptions, band statistics (so QGIS stretches it
right at once) and overviews resampled the way the layer needs: averaged for continuous
values, nearest or mode for classes (averaging class codes invents classes). Optional colour
table and category names for class layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import xarray as xr
from rasterio.io import DatasetReader, DatasetWriter, MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from fusion.export.atomic import atomic_path

OverviewResampling = Literal["average", "nearest", "mode", "bilinear"]


def write_cog(
    data: xr.DataArray,
    path: str | Path,
    *,
    nodata: float | int | None,
    band_names: Sequence[str] | None = None,
    overview_resampling: OverviewResampling = "average",
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
    category_names: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    units: str | None = None,
) -> Path:
    """Write a computed ``(y, x)`` or ``(band, y, x)`` array with an odc-geo geobox as a COG.

    The caller computes: ``data`` must hold numpy values. Written atomically.
    """
    if not isinstance(data.data, np.ndarray):
        raise TypeError("write_cog takes computed data; call .compute() in the pipeline runner")
    geobox = data.odc.geobox
    if geobox is None or geobox.crs is None:
        raise ValueError(f"array {data.name!r} has no georeference; attach an odc-geo GeoBox")
    values = data.values if data.ndim == 3 else data.values[np.newaxis]
    count = values.shape[0]
    names = list(band_names) if band_names is not None else _default_names(data, count)
    profile = {
        "driver": "GTiff",
        "width": geobox.width,
        "height": geobox.height,
        "count": count,
        "dtype": values.dtype.name,
        # An EPSG code where there is one: QGIS then names the CRS instead of "unknown".
        "crs": rasterio.crs.CRS.from_epsg(geobox.crs.epsg)
        if geobox.crs.epsg
        else geobox.crs.to_wkt(),
        "transform": geobox.affine,
        "nodata": nodata,
    }
    path = Path(path)
    with MemoryFile() as memfile:
        with memfile.open(**profile) as mem:
            _fill(mem, values, names, nodata, colormap, tags, units)
            if category_names is not None:
                _set_category_names(mem, category_names)
        with memfile.open() as src:
            _translate(src, path, nodata, overview_resampling, colormap)
    return path


def _fill(
    mem: DatasetWriter,
    values: np.ndarray,
    names: Sequence[str],
    nodata: float | int | None,
    colormap: Mapping[int, tuple[int, int, int, int]] | None,
    tags: Mapping[str, str] | None,
    units: str | None,
) -> None:
    mem.write(values)
    for index, name in enumerate(names, start=1):
        mem.set_band_description(index, name)
        mem.update_tags(index, **_statistics(values[index - 1], nodata))
        if units:
            mem.set_band_unit(index, units)
    if colormap is not None:
        mem.write_colormap(1, dict(colormap))
    if tags:
        mem.update_tags(**tags)


def _translate(
    src: DatasetReader,
    path: Path,
    nodata: float | int | None,
    overview_resampling: OverviewResampling,
    colormap: Mapping[int, tuple[int, int, int, int]] | None,
) -> None:
    cog = cog_profiles.get("deflate")
    cog.update(blockxsize=256, blockysize=256)
    if np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
        cog["predictor"] = 3  # floating-point predictor: much smaller reflectance files
    with atomic_path(path) as tmp:
        cog_translate(
            src,
            tmp,
            cog,
            nodata=nodata,
            overview_resampling=overview_resampling,
            forward_band_tags=True,
            colormap=dict(colormap) if colormap is not None else None,
            quiet=True,
            in_memory=True,
        )


def _default_names(data: xr.DataArray, count: int) -> list[str]:
    if data.ndim == 3 and data.dims[0] in data.coords:
        return [str(v) for v in data[data.dims[0]].values]
    return (
        [str(data.name or "band")] * count
        if count == 1
        else [f"band {i + 1}" for i in range(count)]
    )


def _statistics(band: np.ndarray, nodata: float | int | None) -> dict[str, str]:
    valid = (
        np.isfinite(band) if np.issubdtype(band.dtype, np.floating) else np.ones(band.shape, bool)
    )
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        valid &= band != nodata
    if not valid.any():
        return {"STATISTICS_VALID_PERCENT": "0"}
    values = band[valid].astype(np.float64)
    return {
        "STATISTICS_MINIMUM": f"{values.min():.6g}",
        "STATISTICS_MAXIMUM": f"{values.max():.6g}",
        "STATISTICS_MEAN": f"{values.mean():.6g}",
        "STATISTICS_STDDEV": f"{values.std():.6g}",
        "STATISTICS_VALID_PERCENT": f"{100.0 * valid.mean():.4g}",
    }


def _set_category_names(dst: DatasetWriter, names: Sequence[str]) -> None:
    # rasterio has no API for GDAL's category names; keep them as band tags, which travel
    # inside the TIFF. QGIS takes the class labels from the .qml style written beside it.
    dst.update_tags(1, **{f"CATEGORY_{i}": name for i, name in enumerate(names)})
