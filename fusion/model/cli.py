"""File-level entry points for the CLI: ``fusion fuse LANDSAT.tif [--guide S2.tif] -o OUT.tif``.

GeoTIFF in, COG out. Inputs are 6-band float reflectance (NaN or the file's nodata =
invalid; uint16 with scale/offset tags is scaled on read) in canonical band order, or with
band descriptions naming the canonical bands in any order. Writes ``OUT.tif`` (reflectance)
and ``OUT_sigma.tif`` (one-sigma uncertainty), both with nodata NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import wrap_xr

from fusion.bands import CANONICAL_BANDS
from fusion.errors import ModelInputError
from fusion.export.cog import write_cog
from fusion.model.fuse import fuse


def read_reflectance(path: Path, name: str) -> xr.DataArray:
    """A 6-band reflectance GeoTIFF as ``(band, y, x)`` float32 with NaN for invalid."""
    try:
        src = rasterio.open(path)
    except (OSError, rasterio.errors.RasterioIOError) as exc:
        raise ModelInputError(f"{name} {path}: cannot open it ({exc}); pass a GeoTIFF") from None
    with src:
        if src.count != len(CANONICAL_BANDS):
            raise ModelInputError(
                f"{name} {path}: {src.count} bands, expected 6 ({', '.join(CANONICAL_BANDS)}); stack them in that order"
            )
        if src.crs is None:
            raise ModelInputError(f"{name} {path}: no CRS; assign one (gdal_edit.py -a_srs EPSG:…)")
        data = src.read(masked=True).astype(np.float32)
        values = data.filled(np.nan)
        scales, offsets = np.asarray(src.scales, np.float32), np.asarray(src.offsets, np.float32)
        values = values * scales[:, None, None] + offsets[:, None, None]
        descs = [d.lower() if d else "" for d in src.descriptions]
        gbox = GeoBox.from_rio(src)
    order = list(range(len(CANONICAL_BANDS)))
    if all(descs) and sorted(descs) == sorted(CANONICAL_BANDS):
        order = [descs.index(b) for b in CANONICAL_BANDS]
    elif (
        any(descs)
        and set(descs) & set(CANONICAL_BANDS)
        and sorted(descs) != sorted(CANONICAL_BANDS)
    ):
        raise ModelInputError(
            f"{name} {path}: band descriptions {descs} do not name the six canonical bands {list(CANONICAL_BANDS)}"
        )
    arr = wrap_xr(values[order], gbox, dims=("band", "y", "x"), axis=1, nodata=None)
    return arr.assign_coords(band=list(CANONICAL_BANDS))


def fuse_files(
    landsat_tif: Path,
    guide_tif: Path | None,
    out_tif: Path,
    *,
    weights: str | Path = "default",
    guide_dt_days: float | None = None,
    adapt: bool = True,
) -> Path:
    """Fuse two GeoTIFFs and write ``out_tif`` (reflectance) and ``<stem>_sigma.tif``.

    Computes in memory (a CLI edge, not a pipeline stage). Returns ``out_tif``.
    """
    landsat = read_reflectance(Path(landsat_tif), "landsat")
    guide = read_reflectance(Path(guide_tif), "guide") if guide_tif is not None else None
    ds = fuse(landsat, guide, guide_dt_days=guide_dt_days, weights=weights, adapt=adapt)
    out = Path(out_tif)
    tags = {
        "fusion_weights_sha256": str(ds.attrs["fusion_weights_sha256"]),
        "fusion_landsat": Path(landsat_tif).name,
        "fusion_guide": Path(guide_tif).name if guide_tif is not None else "none",
    }
    # How this scene was adapted (guide shift undone, readout refitted or not), for the record.
    for key in (
        "fusion_adapt",
        "fusion_guide_shift_px",
        "fusion_readout",
        "fusion_readout_sigma_scale",
    ):
        if key in ds.attrs:
            value = ds.attrs[key]
            tags[key] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    write_cog(
        ds.reflectance,
        out,
        nodata=float("nan"),
        band_names=list(CANONICAL_BANDS),
        tags=tags,
        units="reflectance",
    )
    write_cog(
        ds.sigma,
        out.with_name(f"{out.stem}_sigma{out.suffix or '.tif'}"),
        nodata=float("nan"),
        band_names=[f"{b}_sigma" for b in CANONICAL_BANDS],
        tags=tags,
        units="reflectance",
    )
    return out
