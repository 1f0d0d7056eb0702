"""``fusion.fuse``: the public, stable entry point of the fusion network.

External evaluations call it; keep its signature and output layout stable.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from dask import is_dask_collection
from dask.delayed import Delayed, delayed
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.bands import CANONICAL_BANDS
from fusion.errors import ModelInputError
from fusion.model.adapt import ESTIMATES, adapt_dask, adapt_numpy, estimates
from fusion.model.consistency import SCALE
from fusion.model.network import Readout
from fusion.model.tiling import N_OUT, predict_dask, predict_numpy
from fusion.model.weights import DEFAULT_WEIGHTS, check_bands, read_metadata, resolve

_DIMS = ("band", "y", "x")
# Guide grid tolerance, in guide pixels: anything coarser is a real misalignment.
_ALIGN_TOL_PX = 1e-3


def fuse(
    landsat: xr.DataArray,
    guide: xr.DataArray | None = None,
    *,
    guide_dt_days: float | xr.DataArray | None = None,
    weights: str | Path = DEFAULT_WEIGHTS,
    adapt: bool = True,
) -> xr.Dataset:
    """Fuse Landsat with an optional Sentinel-2 guide into Landsat-like reflectance at 3× resolution.

    Args:
        landsat: reflectance, dims ``("band", "y", "x")``, band coordinate exactly
            ``["blue", "green", "red", "nir08", "swir16", "swir22"]``, NaN = invalid, on a regular
            grid with a CRS (odc-geo / rioxarray ``spatial_ref``). Any pixel size (30 m normally).
        guide: Sentinel-2 reflectance bandpass-adjusted to OLI, same dims and bands, pixel size
            exactly a third of ``landsat``'s, same extent (3× rows and columns), aligned. NaN =
            invalid. None, or all NaN, runs unguided.
        guide_dt_days: time gap between guide and Landsat in days (sign ignored): a number, or a
            ``(y, x)`` array on the guide grid for composited guides. None: unknown (treated as
            stale, :data:`fusion.model.network.UNKNOWN_DT_DAYS`).
        weights: ``"default"`` (shipped) or the path of a ``.pt`` written by ``fusion train``.
        adapt: first register the guide to Landsat and refit the network's last linear step
            on this scene at the coarser scale (:mod:`fusion.model.adapt`); both estimates use
            the whole input, so they do not depend on the chunking. False: the trained network
            as it is, pixel by pixel within its receptive field.

    Returns:
        Dataset on the 3× grid (same CRS) with ``reflectance`` and ``sigma`` (float32,
        ``band, y, x``) and ``observed`` (bool, ``y, x``: the Landsat pixel above is valid, so
        the block mean of ``reflectance`` equals it; elsewhere values are gap-filled from the
        guide). Output is NaN where Landsat and the guide are both invalid. numpy in → numpy
        out; any dask input → lazy dask out with chunks 3× Landsat's. Attributes name the
        weights and say whether the scene was adapted (``fusion_adapt``); on the numpy path
        they also give the guide shift undone (``fusion_guide_shift_px``, rows and columns in
        input pixels), whether the readout was ``refitted`` or the ``learnt`` one kept, and
        its sigma scale per band.

    Raises:
        ModelInputError: wrong dims or bands, no CRS, irregular grid, a misaligned or wrongly
            sized guide or time-gap array.
        WeightsError: weights missing, corrupt, or trained on other bands.
    """
    ds, _ = fuse_adapted(landsat, guide, guide_dt_days=guide_dt_days, weights=weights, adapt=adapt)
    return ds


def fuse_adapted(
    landsat: xr.DataArray,
    guide: xr.DataArray | None = None,
    *,
    guide_dt_days: float | xr.DataArray | None = None,
    weights: str | Path = DEFAULT_WEIGHTS,
    adapt: bool = True,
) -> tuple[xr.Dataset, xr.DataArray | None]:
    """:func:`fuse`, and the scene's adaptation (None when not adapted): a float64
    ``(estimate,)`` array named by :data:`fusion.model.adapt.ESTIMATES`, lazy on the dask
    path (its tasks are the ones the fusion runs, so computing both together runs them once).
    For the pipeline's record of each date; ``fuse`` itself stays one Dataset.
    """
    gbox = _check_array(landsat, "landsat")
    out_gbox = gbox.zoom_to((SCALE * gbox.height, SCALE * gbox.width))
    if guide is not None:
        ggbox = _check_array(guide, "guide")
        _check_guide_grid(ggbox, out_gbox, gbox)
    dt_arr = _check_dt(guide_dt_days, out_gbox, guide)
    meta = read_metadata(weights)
    check_bands(meta, tuple(str(b) for b in landsat.band.values), weights=weights)

    lazy = any(is_dask_collection(a) for a in (landsat, guide, dt_arr) if a is not None)
    wpath = str(resolve(weights))
    attrs: dict[str, str | list[float]] = {
        "fusion_weights": Path(wpath).name,
        "fusion_weights_sha256": meta.sha256,
        "fusion_code_revision": meta.code_revision or "unknown",
        "fusion_adapt": "on" if adapt and guide is not None else "off",
    }
    data: np.ndarray | da.Array
    adapted: np.ndarray | da.Array | None = None
    if lazy:
        ls = da.asarray(landsat.data).astype(np.float32)
        g = None if guide is None else da.asarray(guide.data).astype(np.float32)
        dt: float | da.Array | None = (
            da.asarray(dt_arr.data).astype(np.float32)
            if dt_arr is not None
            else _scalar(guide_dt_days)
        )
        readout: Readout | Delayed | None = None
        if adapt and g is not None:
            g, readout, shift_d = adapt_dask(ls, g, dt, weights=wpath)
            adapted = da.from_delayed(
                delayed(estimates, pure=True)(shift_d, readout),
                shape=(len(ESTIMATES),),
                dtype=np.float64,
            )
        data = predict_dask(ls, g, dt, weights=wpath, readout=readout)
    else:
        ln = np.asarray(landsat.data, dtype=np.float32)
        gn = None if guide is None else np.asarray(guide.data, dtype=np.float32)
        dtn = (
            np.asarray(dt_arr.data, dtype=np.float32)
            if dt_arr is not None
            else _scalar(guide_dt_days)
        )
        readout = None
        if adapt and gn is not None:
            gn, readout, shift = adapt_numpy(ln, gn, dtn, weights=wpath)
            adapted = estimates(shift, readout)
            # Eager here, so the scene's estimates can be reported; lazy ones are not.
            attrs["fusion_guide_shift_px"] = [round(float(v), 4) for v in adapted[:2]]
            attrs["fusion_readout"] = "learnt" if readout is None else "refitted"
            if readout is not None:
                attrs["fusion_readout_sigma_scale"] = [round(float(v), 4) for v in adapted[2:]]
        data = predict_numpy(ln, gn, dtn, weights=wpath, readout=readout)
    assert data.shape[0] == N_OUT
    coords = dict(xr_coords(out_gbox, crs_coord_name="spatial_ref"))
    coords["band"] = xr.DataArray(list(CANONICAL_BANDS), dims="band")
    for name, c in landsat.coords.items():  # keep scalar coords such as time or item_id
        if c.ndim == 0 and name not in coords and name != "spatial_ref":
            coords[name] = c
    nb = len(CANONICAL_BANDS)
    record = (
        None
        if adapted is None
        else xr.DataArray(adapted, dims="estimate", coords={"estimate": list(ESTIMATES)})
    )
    return xr.Dataset(
        {
            "reflectance": (
                _DIMS,
                data[:nb],
                {"units": "1", "long_name": "Landsat-like surface reflectance"},
            ),
            "sigma": (
                _DIMS,
                data[nb : 2 * nb],
                {"units": "1", "long_name": "one-sigma uncertainty (calibrated)"},
            ),
            "observed": (
                ("y", "x"),
                data[2 * nb] > 0.5,
                {"long_name": "Landsat pixel valid (consistency holds)"},
            ),
        },
        coords=coords,
        attrs=attrs,
    ), record


def _scalar(value: float | xr.DataArray | None) -> float | None:
    return None if value is None or isinstance(value, xr.DataArray) else float(value)


def _check_array(arr: xr.DataArray, name: str) -> GeoBox:
    if not isinstance(arr, xr.DataArray):
        raise ModelInputError(
            f"{name}: expected an xarray.DataArray, got {type(arr).__name__}; wrap it with odc-geo (xr_wrap) or rioxarray"
        )
    if arr.dims != _DIMS:
        raise ModelInputError(
            f"{name}: dims {arr.dims}, expected {_DIMS}; use .transpose('band', 'y', 'x') (select a single time first)"
        )
    if "band" not in arr.coords or tuple(str(b) for b in arr.band.values) != CANONICAL_BANDS:
        got = list(arr.band.values) if "band" in arr.coords else "no band coordinate"
        raise ModelInputError(
            f"{name}: bands {got}, expected exactly {list(CANONICAL_BANDS)}; select and order them with .sel(band={list(CANONICAL_BANDS)!r})"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ModelInputError(
            f"{name}: dtype {arr.dtype}, expected float reflectance with NaN for invalid; scale the DN to reflectance first"
        )
    try:
        gbox = arr.odc.geobox
    except Exception:  # odc raises various errors for unusable coordinates
        gbox = None
    if not isinstance(gbox, GeoBox) or not gbox.axis_aligned:
        raise ModelInputError(
            f"{name}: not on a regular axis-aligned grid; reproject it onto an odc-geo GeoBox (e.g. with .odc.reproject)"
        )
    if gbox.crs is None:
        raise ModelInputError(
            f"{name}: no CRS attached; attach one with .odc.assign_crs('EPSG:…') or .rio.write_crs(...)"
        )
    return gbox


def _check_guide_grid(ggbox: GeoBox, expected: GeoBox, lgbox: GeoBox) -> None:
    if ggbox.crs != expected.crs:
        raise ModelInputError(
            f"guide: CRS {ggbox.crs} differs from Landsat's {expected.crs}; reproject the guide onto the Landsat grid zoomed ×3"
        )
    if ggbox.shape != expected.shape:
        raise ModelInputError(
            f"guide: shape {tuple(ggbox.shape)} but Landsat {tuple(lgbox.shape)} needs exactly 3× ({tuple(expected.shape)}) "
            "covering the same extent; load the guide on landsat.odc.geobox.zoom_to(3 × shape)"
        )
    ga, ea = ggbox.affine, expected.affine
    res = abs(ea.a)
    if abs(ga.a - ea.a) > _ALIGN_TOL_PX * res or abs(ga.e - ea.e) > _ALIGN_TOL_PX * res:
        raise ModelInputError(
            f"guide: pixel size {abs(ga.a):g}×{abs(ga.e):g} but must be a third of Landsat's ({abs(lgbox.affine.a):g}); "
            "resample the guide onto landsat.odc.geobox.zoom_to(3 × shape)"
        )
    dx, dy = (ga.c - ea.c) / res, (ga.f - ea.f) / res
    if max(abs(dx), abs(dy)) > _ALIGN_TOL_PX:
        raise ModelInputError(
            f"guide: grid shifted by ({dx:.3f}, {dy:.3f}) guide pixels from the Landsat grid zoomed ×3; "
            "load it on landsat.odc.geobox.zoom_to(3 × shape) so each Landsat pixel covers exactly 3×3 guide pixels"
        )


def _check_dt(
    value: float | xr.DataArray | None, out_gbox: GeoBox, guide: xr.DataArray | None
) -> xr.DataArray | None:
    if not isinstance(value, xr.DataArray):
        if value is not None and not np.isfinite(float(value)):
            raise ModelInputError(
                f"guide_dt_days: {value} is not a finite number of days; pass None if unknown"
            )
        return None
    if guide is None:
        raise ModelInputError(
            "guide_dt_days: a per-pixel time-gap array was given without a guide; pass guide= too"
        )
    if value.dims != ("y", "x") or tuple(value.shape) != tuple(out_gbox.shape):
        raise ModelInputError(
            f"guide_dt_days: dims {value.dims} shape {value.shape}, expected ('y', 'x') {tuple(out_gbox.shape)} on the guide grid"
        )
    return value
