"""The monitor on real per-pixel series (../shared/data): no confirmed alert in stable periods.

Series used (all real values):

- lcmap-pyccd Landsat series with CFmask QA (0 = clear) and CCDC's own segment dates: each
  CCDC segment is a period CCDC itself found stable;
- a Landsat ARD pixel (pixel_qa bit 1 = clear) stable 1984–2001 and disturbed in 2002
  (NBR ≈ 0.27 → −0.37): a real positive control;
- the HLS Massachusetts pixel, Landsat (B05/B07) and Sentinel-2 (B8A/B12), stable from 2018.

These are not all closed forest, so they run with ``forest_only=False`` and, being single
pixels, ``self_reference=False``: the monitor sees each pixel's raw NBR history.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion.change import detect
from fusion.change.index import SENSOR_NOISE, normalized_difference_sigma

pytestmark = pytest.mark.shared_data

PYCCD = "landsat-pixel-series-pyccd"
HLS = "hls-pixel-series-massachusetts"


def _as_index(
    nbr: pd.Series, sigma: pd.Series | None = None
) -> tuple[xr.DataArray, xr.DataArray | None]:
    nbr = nbr[~nbr.index.duplicated()].sort_index()
    coords = {"time": nbr.index.values.astype("datetime64[ns]")}
    idx = xr.DataArray(
        nbr.to_numpy(np.float32)[:, None, None], dims=("time", "y", "x"), coords=coords
    )
    if sigma is None:
        return idx, None
    sig = sigma[~sigma.index.duplicated()].sort_index().to_numpy(np.float32)
    return idx, idx.copy(data=sig[:, None, None])


def _ordinal_dates(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([dt.date.fromordinal(int(d)) for d in days])


def _pyccd_csv(path: Path) -> pd.Series:
    """date (proleptic ordinal), blue, green, red, nir, swir1, swir2, thermal, CFmask QA."""
    a = np.loadtxt(path, delimiter=",")
    nir, swir2, qa = a[:, 4], a[:, 6], a[:, 8]
    ok = (qa == 0) & (nir > 0) & (swir2 > 0) & (nir <= 10_000) & (swir2 <= 10_000)
    return pd.Series(
        np.where(ok, (nir - swir2) / (nir + swir2), np.nan), index=_ordinal_dates(a[:, 0])
    )


def _ard_npy(path: Path) -> pd.Series:
    """(extent, dict of band arrays, ``qas`` = pixel_qa bits, ``dates`` ordinal)."""
    d = np.load(path, allow_pickle=True)[1]  # real pyccd test fixture, pickled dict
    nir, swir2 = d["nirs"].astype(float), d["swir2s"].astype(float)
    ok = ((d["qas"] & 2) != 0) & (nir > 0) & (swir2 > 0) & (nir <= 10_000) & (swir2 <= 10_000)
    return pd.Series(
        np.where(ok, (nir - swir2) / (nir + swir2), np.nan), index=_ordinal_dates(d["dates"])
    )


def _run(
    nbr: pd.Series, start: str, end: str, monitor_start: str, sigma: pd.Series | None = None
) -> dict:
    keep = (nbr.index >= start) & (nbr.index < end)
    idx, sig = _as_index(nbr[keep], None if sigma is None else sigma[keep])
    out = detect(
        idx, monitor_start=monitor_start, self_reference=False, forest_only=False, sigma=sig
    )
    found = {k: out[k].values[0, 0] for k in out.data_vars}
    print(
        f"{start}..{end} from {monitor_start}: " + ", ".join(f"{k}={v}" for k, v in found.items())
    )
    return found


def test_pyccd_ccdc_stable_segments_raise_no_confirmed_alert(shared_data: Path) -> None:
    nbr = _pyccd_csv(shared_data / PYCCD / "test_3657_3610_observations.csv")
    coef = np.loadtxt(shared_data / PYCCD / "test_3657_3610_coefficients.csv", delimiter=",")
    segments = sorted({(int(a), int(b)) for a, b in coef[:, :2] if b - a > 700})
    assert len(segments) >= 4
    for a, b in segments:
        start, end = dt.date.fromordinal(a), dt.date.fromordinal(b)
        found = _run(nbr, str(start), str(end), str(start + (end - start) / 2))
        assert found["confidence"] < 2


def test_pyccd_normal_pixel_raises_no_confirmed_alert(shared_data: Path) -> None:
    nbr = _pyccd_csv(shared_data / PYCCD / "sample_WA_grid08_row999_col1_normal.csv")
    found = _run(nbr, "1985-01-01", "2017-01-01", "2000-01-01")
    assert found["confidence"] == 0 and found["valid_count"] > 300


def test_ard_pixel_stable_then_disturbed_in_2002(shared_data: Path) -> None:
    nbr = _ard_npy(shared_data / PYCCD / "h03v09_-2010765_1964625_pixel.npy")
    stable = _run(nbr, "1984-01-01", "2002-01-01", "1993-01-01")
    assert stable["confidence"] == 0
    # Positive control: the same history, monitored through the real 2002 drop.
    found = _run(nbr, "1984-01-01", "2003-01-01", "1993-01-01")
    assert found["confidence"] == 2
    assert pd.Timestamp(found["alert_date"]).year == 2002
    assert found["magnitude"] > 0.3


def _hls(shared_data: Path) -> tuple[pd.Series, pd.Series]:
    """Landsat and Sentinel-2 of one HLS pixel as one series, with NBR sigma from the noise model.

    Only dates are given; same-day acquisitions are told apart by approximate overpass times
    (Landsat ~15:00 UTC, Sentinel-2 ~15:30 UTC over Massachusetts)."""
    parts, sigmas = [], []
    for name, nir, swir, sensor, hour in (
        ("pixel_r03007_c09955_L30_30m.csv", "B05_nir", "B07_swir2", "landsat", "15h"),
        ("pixel_r03007_c09955_S2_10m.csv", "B8A", "B12", "sentinel2", "15h30min"),
    ):
        df = pd.read_csv(shared_data / HLS / name, parse_dates=["date"])
        ok = (df["Fmask"] == 0) & (df[nir] > 0) & (df[swir] > 0)  # 0 = clear; fill rows are all 0
        a = xr.DataArray(df[nir].to_numpy(float) / 10_000).where(ok.to_numpy())
        b = xr.DataArray(df[swir].to_numpy(float) / 10_000).where(ok.to_numpy())
        noise = SENSOR_NOISE[sensor]  # type: ignore[index]
        sig = normalized_difference_sigma(a, b, noise["nir08"], noise["swir22"])
        when = df["date"] + pd.Timedelta(hour)
        parts.append(pd.Series(((a - b) / (a + b)).values, index=when))
        sigmas.append(pd.Series(sig.values, index=when))
    nbr, sigma = pd.concat(parts), pd.concat(sigmas)
    order = np.argsort(nbr.index.values, kind="stable")
    return nbr.iloc[order], sigma.iloc[order]


def test_hls_landsat_and_sentinel2_stable_period(shared_data: Path) -> None:
    nbr, sigma = _hls(shared_data)
    found = _run(nbr, "2018-01-01", "2022-01-01", "2020-01-01", sigma=sigma)
    assert found["confidence"] < 2 and found["valid_count"] > 50
