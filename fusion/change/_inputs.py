"""Validation of the monitor's inputs; every failure is a :class:`MonitorInputError` that
names the argument, the cause and the fix."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import xarray as xr

from fusion.errors import MonitorInputError

DIMS = ("time", "y", "x")


def check_index(index: object, name: str = "index") -> xr.DataArray:
    """A float32 ``(time, y, x)`` DataArray with strictly increasing datetime64 time."""
    if not isinstance(index, xr.DataArray):
        raise MonitorInputError(
            f"{name} is a {type(index).__name__}, not an xarray.DataArray: wrap it with dims "
            "('time', 'y', 'x') and a datetime64 'time' coordinate"
        )
    if set(index.dims) != set(DIMS):
        raise MonitorInputError(
            f"{name} has dims {index.dims}: it needs exactly ('time', 'y', 'x'); select one band "
            "(e.g. fusion.change.index.nbr) and squeeze or rename the other dims"
        )
    if "time" not in index.coords or not np.issubdtype(index["time"].dtype, np.datetime64):
        raise MonitorInputError(
            f"{name} has no datetime64 'time' coordinate: assign acquisition times, e.g. "
            "index.assign_coords(time=pd.to_datetime(dates))"
        )
    times = index["time"].values
    if times.size > 1 and not (np.diff(times) > np.timedelta64(0, "ns")).all():
        raise MonitorInputError(
            f"{name}'s time coordinate is not strictly increasing: sort it with "
            ".sortby('time') and merge same-time acquisitions"
        )
    if not np.issubdtype(index.dtype, np.floating):
        raise MonitorInputError(
            f"{name} has dtype {index.dtype}: pass a float index with NaN for invalid pixels"
        )
    out = index.transpose(*DIMS)
    return out if out.dtype == np.float32 else out.astype(np.float32)


def check_like(arr: object, index: xr.DataArray, name: str) -> xr.DataArray:
    """``arr`` has the same dims, shape and time as ``index``; returned as float32 (time, y, x)."""
    out = check_index(arr, name)
    if out.shape != index.shape or not np.array_equal(out["time"].values, index["time"].values):
        raise MonitorInputError(
            f"{name} has shape {out.shape} and {out.sizes['time']} times but the index has "
            f"{index.shape}: give one {name} value per index value (same times, same grid)"
        )
    return out


def check_mask(mask: object, index: xr.DataArray, name: str = "forest_mask") -> xr.DataArray:
    """A ``(y, x)`` boolean mask on the index grid."""
    if not isinstance(mask, xr.DataArray) or set(mask.dims) != {"y", "x"}:
        raise MonitorInputError(
            f"{name} must be an xarray.DataArray with dims ('y', 'x') on the index grid "
            "(read the forest raster onto the tile grid first)"
        )
    mask = mask.transpose("y", "x")
    if mask.shape != index.shape[1:]:
        raise MonitorInputError(
            f"{name} has shape {mask.shape} but the index grid is {index.shape[1:]}: "
            "reproject the mask onto the index grid"
        )
    if mask.dtype != np.bool_:
        # Rasters often carry 0/1 (or 0/255); NaN (nodata) is not forest.
        mask = mask.fillna(0) != 0
    return mask.assign_coords(y=index["y"], x=index["x"])


def parse_time(value: object, name: str = "monitor_start") -> np.datetime64:
    """A date string, datetime, pandas or numpy timestamp as naive-UTC ``datetime64[ns]``."""
    if not isinstance(value, str | dt.date | np.datetime64 | pd.Timestamp):
        raise MonitorInputError(
            f"{name}={value!r} is not a date: pass an ISO date string such as '2021-01-01'"
        )
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise MonitorInputError(
            f"{name}={value!r} is not a date ({err}): pass an ISO date string such as '2021-01-01'"
        ) from err
    if ts is pd.NaT:
        raise MonitorInputError(f"{name} is NaT: pass an ISO date string such as '2021-01-01'")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.to_datetime64(), "ns")


def check_history(
    index: xr.DataArray, start: np.datetime64, *, min_history: int, require_monitoring: bool
) -> None:
    """The series has at least ``min_history`` acquisitions before ``start`` (and one after)."""
    times = index["time"].values
    n_hist = int((times < start).sum())
    first, last = str(times[0])[:10], str(times[-1])[:10]
    if n_hist == 0:
        raise MonitorInputError(
            f"monitor_start {str(start)[:10]} is on or before the first observation ({first}): "
            "no history to learn from; start monitoring later or pass a longer series"
        )
    if n_hist < min_history:
        raise MonitorInputError(
            f"only {n_hist} acquisitions before monitor_start {str(start)[:10]} but "
            f"min_history={min_history}: start monitoring later, pass more history or lower "
            "min_history"
        )
    if require_monitoring and start > times[-1]:
        raise MonitorInputError(
            f"monitor_start {str(start)[:10]} is after the last observation ({last}): nothing "
            "to monitor; pass a series that reaches past monitor_start"
        )
