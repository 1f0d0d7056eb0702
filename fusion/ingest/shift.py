"""Landsat/Sentinel-2 misregistration, measured per near-date scene pair.

Landsat and Sentinel-2 disagree by under 6 m where both are tied to ESA's Global Reference
Image, over 12 m where not (DESIGN.md "Grids"; Storey et al. 2016, Remote Sensing 8(12):1005).
Each pair is compared on one band at 30 m — Sentinel-2 block-averaged 3×3 onto the Landsat
grid — by phase correlation with DFT upsampling (Guizar-Sicairos et al. 2008, Optics Letters
33(2):156, as implemented by ``skimage.registration.phase_cross_correlation``).

The numeric core (:func:`block_mean`, :func:`phase_shift`) takes numpy arrays.
:func:`measure_shifts` is an eager helper for the pipeline runner: it computes only the one
band of the pairs it measures.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Final

import dask
import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from fusion.errors import IngestError, MisregistrationWarning

DEFAULT_THRESHOLD_M: Final = 10.0
"""Between DESIGN.md's "under 6 m with GRI" and "over 12 m without"."""
DEFAULT_MAX_DAYS: Final = 3.0
DEFAULT_MIN_VALID: Final = 2_500
"""Common clear 30 m pixels a pair needs (50 × 50): fewer give an unstable correlation peak."""
DEFAULT_UPSAMPLE: Final = 100


@dataclass(frozen=True)
class ShiftRecord:
    """The measured shift of one Sentinel-2 scene relative to one Landsat scene."""

    landsat_id: str
    """Landsat item id (as in the loaded dataset's ``item_id``)."""
    s2_id: str
    """Sentinel-2 item id(s)."""
    dt_days: float
    """Sentinel-2 time minus Landsat time, days."""
    dx_m: float
    """Eastward displacement of Sentinel-2 content relative to Landsat, metres."""
    dy_m: float
    """Northward displacement of Sentinel-2 content relative to Landsat, metres."""
    n_valid: int
    """30 m pixels clear in both scenes."""
    error: float
    """skimage's translation-invariant normalised RMS error of the match (0 = perfect)."""

    @property
    def magnitude_m(self) -> float:
        """Length of the shift vector, metres."""
        return math.hypot(self.dx_m, self.dy_m)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for the run manifest)."""
        return asdict(self) | {"magnitude_m": self.magnitude_m}


def block_mean(image: np.ndarray, factor: int = 3, *, min_valid: int | None = None) -> np.ndarray:
    """NaN-aware ``factor × factor`` block mean of a (y, x) array whose shape divides by factor.

    A block is NaN unless at least ``min_valid`` of its pixels are finite (default: all).
    """
    ny, nx = image.shape
    if ny % factor or nx % factor:
        raise ValueError(f"block_mean: shape {image.shape} is not a multiple of {factor}")
    blocks = image.astype(np.float32).reshape(ny // factor, factor, nx // factor, factor)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    need = factor * factor if min_valid is None else min_valid
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / count).astype(np.float32)
    return np.where(count >= need, mean, np.float32(np.nan))


def phase_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    upsample: int = DEFAULT_UPSAMPLE,
    iterations: int = 3,
) -> tuple[float, float, float, int]:
    """Displacement (rows, cols) of ``moving``'s content relative to ``reference``, in pixels.

    Returns ``(drow, dcol, error, n_valid)``. Pixels invalid in either image are set to the
    image mean (zero after centring), and a Hann window suppresses the wrap-around edge that
    would otherwise pull the peak towards zero shift. Plain (not phase-normalised)
    cross-correlation: phase normalisation whitens the spectrum and so amplifies the aliased
    high frequencies of 3×3 block means and of filled gaps; on smooth synthetic scenes it
    biased 0.3 px shifts towards zero by half or more.

    The filled gaps sit at the same place in both images and still pull the estimate towards
    zero (by ~15 % with a cloud over 5 % of the scene), so the estimate is refined: ``moving``
    is moved back by the shift found so far (cubic spline) and the residual measured again.
    """
    common = np.isfinite(reference) & np.isfinite(moving)
    n_valid = int(common.sum())
    if n_valid == 0:
        return math.nan, math.nan, math.nan, 0
    hann = window("hann", reference.shape)
    valid = np.isfinite(moving)
    filled = np.where(valid, moving, moving[valid].mean())
    total = np.zeros(2)
    error = math.nan
    for _ in range(max(iterations, 1)):
        back = ndimage.shift(filled, -total, order=3, mode="nearest")
        back_valid = ndimage.shift(valid.astype(np.float32), -total, order=1, cval=0.0) > 0.999
        both = np.isfinite(reference) & back_valid
        if not both.any():
            break
        ref = np.where(both, reference - reference[both].mean(), 0.0) * hann
        mov = np.where(both, back - back[both].mean(), 0.0) * hann
        shift, error, _ = phase_cross_correlation(
            ref, mov, upsample_factor=upsample, normalization=None
        )
        # skimage returns the shift that registers moving onto reference: minus the displacement.
        total = total - np.asarray(shift, dtype=np.float64)
        if np.abs(shift).max() < 1.0 / upsample:
            break
    return float(total[0]), float(total[1]), float(error), n_valid


def measure_pair(
    landsat30: np.ndarray,
    s2_10m: np.ndarray,
    *,
    resolution_m: float = 30.0,
    upsample: int = DEFAULT_UPSAMPLE,
) -> tuple[float, float, float, int]:
    """Shift of a 10 m Sentinel-2 band relative to a 30 m Landsat band on the same grid.

    ``s2_10m`` must cover exactly the Landsat grid at 3× (tile.geobox vs tile.geobox30).
    Returns ``(dx_m, dy_m, error, n_valid)``, x east and y north.
    """
    if s2_10m.shape != (3 * landsat30.shape[0], 3 * landsat30.shape[1]):
        raise IngestError(
            f"shift: Sentinel-2 shape {s2_10m.shape} is not 3× the Landsat shape "
            f"{landsat30.shape}; load Landsat on tile.geobox30 and Sentinel-2 on tile.geobox"
        )
    drow, dcol, error, n_valid = phase_shift(
        landsat30.astype(np.float32), block_mean(s2_10m), upsample=upsample
    )
    # Rows run south (north-up grid), so a positive row displacement is a southward one.
    return dcol * resolution_m, -drow * resolution_m, error, n_valid


def measure_shifts(
    landsat: xr.Dataset | None,
    sentinel2: xr.Dataset | None,
    *,
    max_days: float = DEFAULT_MAX_DAYS,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    band: str = "nir08",
    min_valid: int = DEFAULT_MIN_VALID,
    upsample: int = DEFAULT_UPSAMPLE,
) -> list[ShiftRecord]:
    """Measure every Landsat scene against its nearest Sentinel-2 scene within ``max_days``.

    Inputs are :func:`~fusion.ingest.load.load_sensor` outputs. Only ``band`` of the paired
    slices is computed (one ``dask.compute``). Pairs with fewer than ``min_valid`` common
    clear pixels are skipped. Warns :class:`MisregistrationWarning` for each pair shifted
    more than ``threshold_m``. A missing sensor (None) gives no records.
    """
    if landsat is None or sentinel2 is None:
        return []
    l_times = pd.DatetimeIndex(landsat["time"].values)
    s_times = pd.DatetimeIndex(sentinel2["time"].values)
    pairs: list[tuple[int, int, float]] = []
    for i, t in enumerate(l_times):
        if len(s_times) == 0:
            break
        gaps = (s_times - t).total_seconds() / 86_400.0
        j = int(np.argmin(np.abs(gaps)))
        if abs(gaps[j]) <= max_days:
            pairs.append((i, j, float(gaps[j])))
    if not pairs:
        return []
    l_ids = [str(v) for v in landsat["item_id"].values]
    s_ids = [str(v) for v in sentinel2["item_id"].values]
    l_band = landsat["reflectance"].sel(band=band)
    s_band = sentinel2["reflectance"].sel(band=band)
    arrays = dask.compute(*[(l_band[i].data, s_band[j].data) for i, j, _ in pairs])
    res = abs(float(landsat["x"][1] - landsat["x"][0])) if landsat.sizes["x"] > 1 else 30.0
    records = []
    for (i, j, dt), (l_arr, s_arr) in zip(pairs, arrays, strict=True):
        l_np, s_np = np.asarray(l_arr), np.asarray(s_arr)
        common = np.isfinite(l_np) & np.isfinite(block_mean(s_np) if s_np.size else s_np)
        if int(common.sum()) < min_valid:
            continue
        dx, dy, error, n_valid = measure_pair(l_np, s_np, resolution_m=res, upsample=upsample)
        record = ShiftRecord(
            landsat_id=l_ids[i],
            s2_id=s_ids[j],
            dt_days=round(dt, 3),
            dx_m=round(dx, 2),
            dy_m=round(dy, 2),
            n_valid=n_valid,
            error=round(error, 4),
        )
        if record.magnitude_m > threshold_m:
            warnings.warn(
                f"Landsat {record.landsat_id} / Sentinel-2 {record.s2_id} ({dt:+.1f} d): "
                f"shifted {record.magnitude_m:.1f} m (dx {dx:+.1f} m, dy {dy:+.1f} m) > "
                f"{threshold_m} m; the fused 10 m detail may be offset — prefer Sentinel-2 "
                "products on the GRI (collection 1) or co-register before fusing",
                MisregistrationWarning,
                stacklevel=2,
            )
        records.append(record)
    return records
