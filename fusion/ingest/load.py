"""Load one sensor's STAC items lazily onto a tile grid as masked, harmonised reflectance.

Plan → read → assemble: items are parsed once (:func:`~fusion.ingest.items.item_bands`),
grouped by band mapping (one collection schema per ``odc.stac.load`` call), read as uint16
DNs — every item its own time slice so each gets its own scale/offset — then scaled, masked,
bandpass-adjusted, and finally same-day slices of one platform (adjacent tiles of one
overpass) are merged by first valid pixel. Nothing is computed here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Final, Literal

import dask.array as da
import numpy as np
import odc.stac
import pandas as pd
import pystac
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox

from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.errors import (
    DuplicateItemWarning,
    IngestError,
    ItemMetadataError,
    ScaleOffsetMismatchWarning,
)
from fusion.ingest.assets import GDAL_READ_ENV
from fusion.ingest.bandpass import coefficient_arrays
from fusion.ingest.items import CollectionBands, ItemBands, item_bands
from fusion.ingest.masks import (
    QA_FILL,
    SCL_INVALID_DEFAULT,
    SCL_NODATA,
    buffer_pixels,
    dilate,
    qa_bit,
    qa_pixel_invalid,
    scl_invalid,
)
from fusion.ingest.scaling import scale_dn

DEFAULT_CHUNKS: Final[Mapping[str, int]] = {"time": 1, "y": 512, "x": 512}
REFLECTANCE_NODATA: Final = 0
"""Landsat C2 L2 SR and Sentinel-2 L2A both write 0 where there is no data."""
QA_PIXEL_NODATA: Final = 1
"""QA_PIXEL value of a fill pixel (bit 0 set): outside the scene reads as fill, i.e. invalid."""

Resampling = Literal["bilinear", "cubic", "average"]


def load_sensor(
    items: Iterable[pystac.Item],
    mapping_by_collection: Mapping[str, CollectionBands],
    *,
    geobox: GeoBox,
    chunks: Mapping[str, int] | None = None,
    mask_buffer_m: float = 60.0,
    patch_url: Callable[[str], str] | None = None,
    fail_on_error: bool = True,
    resampling: Resampling = "bilinear",
    mask_snow: bool = True,
    scl_invalid_classes: Iterable[int] = SCL_INVALID_DEFAULT,
) -> xr.Dataset:
    """Lazy ``reflectance`` (time, band, y, x) float32 of one sensor's items on ``geobox``.

    Landsat goes on the tile's ``geobox30``, Sentinel-2 on its 10 m ``geobox``. Reflectance is
    NaN at nodata and under the cloud/shadow masks, dilated by ``mask_buffer_m`` (Landsat:
    CFMask's own dilated-cloud margin is not masked, see ``qa_pixel_invalid``); Sentinel-2 is
    bandpass-adjusted to OLI. Coordinates: ``time``, ``item_id`` ("a+b" for merged same-day
    tiles), ``platform``, ``dn_scale``, ``dn_offset``; a ``valid_fraction`` (time) variable.
    Masks are resampled nearest, reflectance ``resampling`` (bilinear by default).
    ``patch_url`` signs URLs just before reading (Planetary Computer). With
    ``fail_on_error=False`` unreadable assets load as nodata (NaN) instead of failing the graph.
    """
    parsed = _parse(list(items), mapping_by_collection)
    sensors = {ib.sensor for _, ib, _ in parsed}
    if len(sensors) != 1:
        raise IngestError(
            f"load_sensor got items of {sorted(sensors)}; load Landsat and Sentinel-2 separately "
            "(Landsat on tile.geobox30, Sentinel-2 on tile.geobox)"
        )
    sensor: Sensor = sensors.pop()
    chunking = {**DEFAULT_CHUNKS, **(chunks or {})}
    radius = buffer_pixels(mask_buffer_m, geobox.resolution.x)
    pieces = []
    for mapping, group in _by_mapping(parsed):
        dn, quality = _read(
            [it for it, _, _ in group],
            mapping,
            geobox=geobox,
            chunks=chunking,
            patch_url=patch_url,
            fail_on_error=fail_on_error,
            resampling=resampling,
        )
        bands = [ib for _, ib, _ in group]
        invalid = _invalid(
            quality,
            partial(
                _invalid_mask,
                sensor=sensor,
                radius=radius,
                mask_snow=mask_snow,
                scl_classes=frozenset(scl_invalid_classes) - {SCL_NODATA},
            ),
            radius=radius,
        )
        reflectance = _reflectance(dn, invalid, bands, sensor=sensor)
        pieces.append(reflectance.assign_coords(_time_coords(bands, reflectance["time"])))
    reflectance = xr.concat(pieces, dim="time") if len(pieces) > 1 else pieces[0]
    reflectance = _merge_same_day(reflectance, geobox).astype(np.float32)
    valid_fraction = reflectance.notnull().all("band").mean(("y", "x")).astype(np.float32)
    ds = xr.Dataset({"reflectance": reflectance, "valid_fraction": valid_fraction})
    return ds.assign_attrs(sensor=sensor, mask_buffer_m=float(mask_buffer_m))


def _invalid_mask(
    quality: np.ndarray,
    *,
    sensor: Sensor,
    radius: int,
    mask_snow: bool,
    scl_classes: frozenset[int],
) -> np.ndarray:
    """Invalid pixels (nodata, cloud, shadow, dilated by ``radius``) of a quality block."""
    if sensor == "landsat":
        fill = qa_bit(quality, QA_FILL)
        # Clouds and shadows get the pipeline's own buffer, not CFMask's wider dilated-cloud
        # margin (see qa_pixel_invalid).
        cloudy = qa_pixel_invalid(quality, mask_snow=mask_snow) & ~fill
    else:
        fill = quality == SCL_NODATA
        cloudy = scl_invalid(quality, invalid_classes=scl_classes)
    return np.asarray(dilate(cloudy, radius) | fill)


def _invalid(
    quality: xr.DataArray, mask: Callable[[np.ndarray], np.ndarray], *, radius: int
) -> np.ndarray | da.Array:
    """``mask`` of the ``(time, y, x)`` quality layer as ``(time, 1, y, x)``, to broadcast over
    the bands; one task per chunk (with a halo of ``radius`` for the dilation when the tile
    spans several spatial chunks)."""
    data = quality.data
    if not isinstance(data, da.Array):
        return mask(np.asarray(data))[:, None]
    meta = np.empty((0,) * data.ndim, dtype=bool)
    if radius > 0 and any(len(c) > 1 for c in data.chunks[-2:]):
        depth = {0: 0, 1: radius, 2: radius}
        flat = da.map_overlap(mask, data, depth=depth, boundary="none", dtype=bool, meta=meta)
        return flat[:, None]
    return da.map_blocks(
        _with_band_axis,
        data,
        mask=mask,
        new_axis=1,
        chunks=(data.chunks[0], (1,), *data.chunks[1:]),
        dtype=bool,
        meta=np.empty((0,) * (data.ndim + 1), dtype=bool),
    )


def _with_band_axis(block: np.ndarray, *, mask: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return mask(block)[:, None]


def _reflectance(
    dn: xr.DataArray, invalid: np.ndarray | da.Array, items: Sequence[ItemBands], *, sensor: Sensor
) -> xr.DataArray:
    """Float32 reflectance ``(time, band, y, x)`` of the DNs: scaled per item, NaN at nodata
    and where ``invalid`` (``(time, 1, y, x)``), Sentinel-2 bandpass-adjusted to OLI; one task
    per chunk.

    :func:`~fusion.ingest.scaling.scale_dn`, the mask and the float32 arithmetic of
    :func:`~fusion.ingest.bandpass.adjust_msi_to_oli` in turn, in one task: each chunk picks
    its items' constants out of a small table by its position (broadcasting them as arrays
    cost several graph tasks per scene).
    """
    scale = np.asarray([ib.scale for ib in items], dtype=np.float32)[:, None]
    offset = np.asarray([ib.offset for ib in items], dtype=np.float32)[:, None]
    consts = [scale, offset]
    if sensor == "sentinel2":
        bands = [str(b) for b in dn["band"].values]
        platforms = [ib.platform for ib in items]
        consts += coefficient_arrays(platforms, bands, item_ids=[ib.item_id for ib in items])
    table = np.concatenate(consts, axis=1)
    data = dn.data
    if not isinstance(data, da.Array):
        return dn.copy(data=_reflectance_block(np.asarray(data), np.asarray(invalid), table=table))
    out = da.map_blocks(
        _reflectance_block,
        data.rechunk({1: -1}),
        invalid,
        table=table,
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0), dtype=np.float32),
    )
    return dn.copy(data=out)


def _reflectance_block(
    dn: np.ndarray,
    invalid: np.ndarray,
    *,
    table: np.ndarray,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """One chunk of :func:`_reflectance`: ``table`` holds per time slice the scale and offset,
    then (Sentinel-2) the per-band slopes and offsets of the bandpass adjustment."""
    if block_info is not None:
        table = table[slice(*block_info[0]["array-location"][0])]
    nb = dn.shape[1]
    at = (slice(None), None, None, None)
    out = scale_dn(dn, table[:, 0][at], table[:, 1][at], nodata=REFLECTANCE_NODATA)
    out = np.where(~invalid, out, np.float32(np.nan))
    if table.shape[1] > 2:
        slope = table[:, 2 : 2 + nb, None, None]
        shift = table[:, 2 + nb : 2 + 2 * nb, None, None]
        out = (out * slope + shift).astype(np.float32)
    return out


def _parse(
    items: list[pystac.Item], mapping_by_collection: Mapping[str, CollectionBands]
) -> list[tuple[pystac.Item, ItemBands, CollectionBands]]:
    if not items:
        raise IngestError("load_sensor got no items; search the catalogue first")
    seen: set[str] = set()
    parsed = []
    mismatched: list[tuple[str, str]] = []
    for item in items:
        if item.id in seen:
            warnings.warn(
                f"item {item.id!r} given twice to load_sensor; loading it once",
                DuplicateItemWarning,
                stacklevel=3,
            )
            continue
        seen.add(item.id)
        mapping = mapping_by_collection.get(item.collection_id or "")
        if mapping is None:
            raise ItemMetadataError(
                f"item {item.id!r}: collection {item.collection_id!r} has no band mapping "
                f"(mapped: {', '.join(mapping_by_collection) or 'none'}); add it to the "
                "source's collections in data_catalog.yaml"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed.append((item, item_bands(item, mapping), mapping))
        for w in caught:
            if issubclass(w.category, ScaleOffsetMismatchWarning):
                mismatched.append((item.id, str(w.message)))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if mismatched:
        # One summary, not one line per scene: a real Earth Search search returns this for
        # every sentinel-2-l2a item (boa_offset_applied=true beside raster:bands −0.1).
        more = [i for i, _ in mismatched[1:11]]
        warnings.warn(
            f"{len(mismatched)} of {len(parsed)} items: {mismatched[0][1]}"
            + (
                f" (also: {', '.join(more)}{', …' if len(mismatched) > 11 else ''})" if more else ""
            ),
            ScaleOffsetMismatchWarning,
            stacklevel=3,
        )
    return parsed


def _by_mapping(
    parsed: list[tuple[pystac.Item, ItemBands, CollectionBands]],
) -> list[tuple[CollectionBands, list[tuple[pystac.Item, ItemBands, CollectionBands]]]]:
    """Group by asset-key schema, each group sorted by item id: odc-stac's order for groupby="id"."""
    groups: dict[tuple[str, ...], list[tuple[pystac.Item, ItemBands, CollectionBands]]] = {}
    for entry in parsed:
        mapping = entry[2]
        groups.setdefault((*mapping.assets, mapping.mask_asset), []).append(entry)
    return [(g[0][2], sorted(g, key=lambda e: e[0].id)) for g in groups.values()]


def _read(
    items: Sequence[pystac.Item],
    mapping: CollectionBands,
    *,
    geobox: GeoBox,
    chunks: Mapping[str, int],
    patch_url: Callable[[str], str] | None,
    fail_on_error: bool,
    resampling: Resampling,
) -> tuple[xr.DataArray, xr.DataArray]:
    """DNs (time, band, y, x) uint16 and the quality layer (time, y, x), lazily."""

    def load(bands: list[str], dtype: str, nodata: int, how: str) -> xr.Dataset:
        # odc-stac captures the active GDAL settings into the graph's tasks: the reads retry
        # transient HTTP errors wherever the graph runs (GDAL_READ_ENV).
        with rasterio.Env(**GDAL_READ_ENV):
            return odc.stac.load(
                items,
                bands=bands,
                geobox=geobox,
                chunks=dict(chunks),
                # Every item its own slice so each gets its own scale/offset; odc-stac then
                # orders slices by id, which _by_mapping mirrors.
                groupby="id",
                dtype=dtype,
                nodata=nodata,
                resampling=how,
                patch_url=patch_url,
                fail_on_error=fail_on_error,
            )

    refl = load(list(mapping.assets), "uint16", REFLECTANCE_NODATA, resampling)
    landsat = mapping.sensor == "landsat"
    # Class and bit layers are never interpolated: nearest.
    quality = load(
        [mapping.mask_asset],
        "uint16" if landsat else "uint8",
        QA_PIXEL_NODATA if landsat else SCL_NODATA,
        "nearest",
    )[mapping.mask_asset]
    dn = (
        refl[list(mapping.assets)]
        .to_dataarray("band")
        .assign_coords(band=list(CANONICAL_BANDS))
        .transpose("time", "band", "y", "x")
    )
    # One chunk across the bands from here on: every later step (scaling, masking, bandpass,
    # the composite, the fusion) works on whole scenes, so per-band chunks would only multiply
    # the graph's tasks by the band count. One task per chunk stacks the bands' reads (the
    # stack, transpose and rechunk of to_dataarray cost three per band and chunk).
    bands = [refl[name].data for name in mapping.assets]
    if all(isinstance(b, da.Array) for b in bands):
        dn = dn.copy(data=_stack_bands(bands))
    return dn, quality


def _stack_bands(bands: Sequence[da.Array]) -> da.Array:
    """``(time, y, x)`` arrays of one chunking stacked to ``(time, band, y, x)``, one band chunk."""
    pairs = [part for band in bands for part in (band, "tyx")]
    return da.blockwise(
        _stack_block,
        "tbyx",
        *pairs,
        new_axes={"b": len(bands)},
        dtype=bands[0].dtype,
        meta=np.empty((0, 0, 0, 0), dtype=bands[0].dtype),
    )


def _stack_block(*blocks: np.ndarray) -> np.ndarray:
    return np.stack(blocks, axis=1)


def _time_coords(items: Sequence[ItemBands], time: xr.DataArray) -> dict[str, xr.DataArray]:
    def along(values: Sequence[object], dtype: type) -> xr.DataArray:
        return xr.DataArray(np.asarray(values, dtype=dtype), coords={"time": time}, dims="time")

    return {
        "item_id": along([ib.item_id for ib in items], object),
        "platform": along([ib.platform for ib in items], object),
        "dn_scale": along([ib.scale for ib in items], np.float32),
        "dn_offset": along([ib.offset for ib in items], np.float32),
    }


def _merge_same_day(reflectance: xr.DataArray, geobox: GeoBox) -> xr.DataArray:
    """Merge slices of one platform on one solar day (adjacent tiles) by first valid pixel."""
    ((lon, _),) = geobox.extent.centroid.to_crs("EPSG:4326").points
    times = pd.DatetimeIndex(reflectance["time"].values)
    # Local solar day: a Congo Basin overpass near 10:00 local never straddles midnight, but a
    # UTC date would split overpasses far from Greenwich.
    solar_day = (times + pd.to_timedelta(lon / 15.0, unit="h")).normalize()
    keys = list(zip(reflectance["platform"].values.tolist(), solar_day, strict=True))
    order = sorted(
        range(len(keys)), key=lambda i: (times[i], str(reflectance["item_id"][i].item()))
    )
    slices: dict[tuple[object, pd.Timestamp], list[int]] = {}
    for i in order:
        slices.setdefault(keys[i], []).append(i)
    if all(len(members) == 1 for members in slices.values()):
        return _ns_time(reflectance.isel(time=order))
    merged = []
    for members in slices.values():
        first = reflectance.isel(time=members[0])
        data = first.data
        for j in members[1:]:
            # First valid wins; np.where dispatches to dask for dask arrays (NEP 18).
            data = np.where(np.isnan(data), reflectance.isel(time=j).data, data)
        first = first.copy(data=data)
        if len(members) > 1:
            ids = "+".join(str(reflectance["item_id"][j].item()) for j in members)
            first = first.assign_coords(item_id=np.asarray(ids, dtype=object))
        merged.append(first)
    return _ns_time(xr.concat(merged, dim="time", coords="different", compat="equals"))


def _ns_time(reflectance: xr.DataArray) -> xr.DataArray:
    return reflectance.assign_coords(time=reflectance["time"].astype("datetime64[ns]"))
