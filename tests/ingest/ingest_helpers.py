"""Synthetic scenes for ingest tests: tiled GeoTIFFs written with rasterio and STAC items in the
Earth Search v1 schema (asset keys, raster:bands, proj:*), built in code and seeded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pystac
import rasterio
from odc.geo.geobox import GeoBox

from fusion.bands import CANONICAL_BANDS

CRS = "EPSG:32635"  # UTM 35N, as the Congo Basin tiles use


def tile_geobox(width_m: int = 1800, height_m: int = 1500) -> GeoBox:
    """A 10 m tile grid with edges on multiples of 30 m (as fusion.aoi builds them)."""
    x0, y0 = 600_000, 9_990_000
    return GeoBox.from_bbox((x0, y0, x0 + width_m, y0 + height_m), crs=CRS, resolution=10)


def write_tif(path: Path, data: np.ndarray, geobox: GeoBox, *, nodata: int | None) -> str:
    """Write a tiled single-band GeoTIFF on ``geobox``; returns its path as href."""
    profile = {
        "driver": "GTiff",
        "width": geobox.width,
        "height": geobox.height,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": CRS,
        "transform": geobox.affine,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return str(path)


def _asset(href: str, geobox: GeoBox, raster: Mapping[str, object]) -> pystac.Asset:
    return pystac.Asset(
        href=href,
        media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        roles=["data"],
        extra_fields={
            "proj:shape": [geobox.height, geobox.width],
            "proj:transform": list(geobox.affine)[:6],
            "raster:bands": [dict(raster)],
        },
    )


def make_item(
    folder: Path,
    *,
    sensor: str,
    item_id: str,
    when: dt.datetime,
    dn: Mapping[str, np.ndarray],
    quality: np.ndarray,
    geobox: GeoBox,
    quality_geobox: GeoBox | None = None,
    platform: str | None = None,
    baseline: str | None = "05.11",
    raster_offset: float | None = None,
    extra_properties: Mapping[str, object] | None = None,
) -> pystac.Item:
    """An Earth Search v1 style item (landsat-c2-l2 or sentinel-2-l2a) over local GeoTIFFs."""
    folder.mkdir(parents=True, exist_ok=True)
    qbox = quality_geobox or geobox
    landsat = sensor == "landsat"
    bbox = list(geobox.extent.to_crs("EPSG:4326").boundingbox.bbox)
    props: dict[str, object] = {
        "platform": platform or ("landsat-8" if landsat else "sentinel-2a"),
        "proj:epsg": 32635,
        "eo:cloud_cover": 10.0,
    }
    if not landsat and baseline is not None:
        props["s2:processing_baseline"] = baseline
    props.update(extra_properties or {})
    item = pystac.Item(
        id=item_id,
        geometry=geobox.extent.to_crs("EPSG:4326").json,
        bbox=bbox,
        datetime=when,
        properties=props,
        collection="landsat-c2-l2" if landsat else "sentinel-2-l2a",
    )
    if landsat:
        scale, offset = 2.75e-5, -0.2 if raster_offset is None else raster_offset
    else:
        scale, offset = 1e-4, -0.1 if raster_offset is None else raster_offset
    for band in CANONICAL_BANDS:
        href = write_tif(folder / f"{item_id}_{band}.tif", dn[band], geobox, nodata=0)
        raster = {"nodata": 0, "data_type": "uint16", "scale": scale, "offset": offset}
        item.add_asset(band, _asset(href, geobox, raster))
    key = "qa_pixel" if landsat else "scl"
    href = write_tif(folder / f"{item_id}_{key}.tif", quality, qbox, nodata=1 if landsat else 0)
    raster = {"nodata": 1 if landsat else 0, "data_type": quality.dtype.name}
    item.add_asset(key, _asset(href, qbox, raster))
    return item


def smooth_field(shape: tuple[int, int], *, seed: int, scale_px: float = 6.0) -> np.ndarray:
    """A periodic, band-limited random field in [0, 1] (Gaussian spectrum), float64."""
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.fftfreq(shape[1])[None, :]
    spectrum = np.exp(-((kx**2 + ky**2) * (2 * np.pi * scale_px) ** 2) / 2)
    noise = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    field = np.real(np.fft.ifft2(np.fft.fft2(noise.real) * spectrum))
    field -= field.min()
    return field / field.max()


def fourier_shift(image: np.ndarray, dy_px: float, dx_px: float) -> np.ndarray:
    """Move a periodic image's content by (dy, dx) pixels (sub-pixel exact for band-limited data)."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (ky * dy_px + kx * dx_px))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * ramp))
