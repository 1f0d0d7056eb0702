"""``fusion.detect``: the public, stable entry point of the forest-disturbance monitor.

External evaluations call it; keep its signature and output layout stable.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from fusion.change.monitor import alerts
from fusion.change.state import start


def detect(
    index: xr.DataArray,
    *,
    monitor_start: Any,
    self_reference: bool = True,
    sigma: xr.DataArray | None = None,
    forest_mask: xr.DataArray | None = None,
    **params: Any,
) -> xr.Dataset:
    """Flag forest disturbance (drops of a vegetation index) with confirmed alerts.

    Args:
        index: NBR or NDVI, dims ``("time", "y", "x")`` (any order), datetime64 ``time``
            strictly increasing, NaN = no valid observation. Any number of pixels, including a
            single one (``y = x = 1``, with ``self_reference=False``). numpy or dask.
        monitor_start: date (ISO string, datetime, numpy/pandas timestamp; naive = UTC).
            Acquisitions before it are the history that defines each pixel's normal range.
        self_reference: subtract, per date, the median index of stable forest within
            ``window_m`` (≈1 km; rNBR, Zhang et al. 2021, RSE 261:112470) so haze and
            illumination shared by the neighbourhood do not alarm. Needs a metric grid
            (odc-geo geobox or regular y/x coordinates in metres).
        sigma: per-observation 1-sigma of ``index`` (same dims, shape and times), e.g. from
            :func:`fusion.change.index.nbr_sigma`; None treats observations as exact (the
            history spread still holds their typical noise). NaN sigma makes the observation
            invalid.
        forest_mask: ``(y, x)`` forest at the start of monitoring (bool, or 0/1) on the index
            grid; None derives it from the history (median ≥ ``forest_threshold``). It selects
            the reference pixels and, with ``forest_only`` (default), the monitored ones.
        **params: fields of :class:`fusion.change.params.MonitorParams` (``threshold``,
            ``confirm_needed``, ``confirm_window``, ``expiry_days``, ``min_history``,
            ``spread_floor``, ...). ``grow_m`` > 0 adds spatial confirmation (a strong single
            look within ``grow_m`` of pixels that confirmed themselves is confirmed); it
            needs a metric grid like the self-reference.

    Returns:
        Dataset on the index's y/x grid (coordinates kept) with

        - ``alert_date`` (datetime64[ns]): first anomalous date of the alert, NaT where none;
        - ``confidence`` (uint8): 0 none, 1 provisional, 2 confirmed;
        - ``magnitude`` (float32): mean drop below the history median, in index units, over
          the first anomaly and the observations that agreed with it; NaN where none;
        - ``valid_count`` (uint16): valid observations since ``monitor_start``;
        - ``confirmed_date`` (datetime64[ns]): date of the confirming observation, NaT unless
          confirmed.

        numpy in → numpy out; any dask input → lazy dask out with the input's y/x chunks.

    Raises:
        MonitorInputError: wrong dims, non-datetime or unsorted time, monitor_start not inside
            the series or with fewer than ``min_history`` acquisitions before it, a sigma or
            mask that does not match, self-reference on a grid without metric coordinates.
        MonitorParamsError: an unknown parameter or one out of range.
    """
    state = start(
        index,
        monitor_start=monitor_start,
        self_reference=self_reference,
        sigma=sigma,
        forest_mask=forest_mask,
        require_monitoring=True,
        **params,
    )
    return alerts(state)
