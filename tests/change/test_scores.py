"""The monitor's scores as reported (``scores`` on ``monitored_index``) are the ones it decides on."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import xarray as xr
from _change_helpers import at, series

from fusion.change import alerts, monitored_index, scores, start, update
from fusion.change.params import MonitorParams

START = 20  # acquisitions 0..19 are history
NAT = np.datetime64("NaT", "ns")


def _with_clearings(idx: xr.DataArray) -> xr.DataArray:
    """Two clearings (one from step 35, one from step 48) and a single dip, under the clouds."""
    data = idx.values.copy()
    for step, rows, cols in ((35, slice(4, 10), slice(4, 10)), (48, slice(14, 20), slice(3, 8))):
        block = data[step:, rows, cols]
        data[step:, rows, cols] = np.where(np.isnan(block), np.nan, 0.15)
    data[40, 16:20, 16:20] = np.where(np.isnan(data[40, 16:20, 16:20]), np.nan, 0.2)
    return idx.copy(data=data)


def _inputs() -> tuple[xr.DataArray, xr.DataArray]:
    idx = _with_clearings(series(60, 24, 24, cloud=0.4, seed=21))
    rng = np.random.default_rng(5)
    sigma = idx.copy(data=rng.uniform(0.005, 0.04, idx.shape).astype(np.float32))
    return idx, sigma.where(idx.notnull())


def _rule(z: np.ndarray, times: np.ndarray, p: MonitorParams) -> tuple[np.datetime64, ...]:
    """Alert and confirmation dates from a pixel's scores by the stated rule: the first score
    ≤ threshold whose next ``confirm_window`` valid scores hold ``confirm_needed`` ≤ the agree
    threshold (no expiry in days); NaT, NaT when never confirmed."""
    buf: deque[tuple[float, np.datetime64]] = deque(maxlen=p.confirm_window)
    for value, t in zip(z, times, strict=True):
        if np.isnan(value):
            continue
        live = [i for i, (b, _) in enumerate(buf) if b <= p.threshold]
        if live and value <= p.agree_threshold:
            agreeing = sum(b <= p.agree_threshold for b, _ in list(buf)[live[0] + 1 :])
            if agreeing + 1 >= p.confirm_needed:
                return buf[live[0]][1], t
        buf.append((float(value), t))
    return NAT, NAT


@pytest.mark.parametrize("self_reference", [True, False])
@pytest.mark.parametrize("chunks", [None, {"y": 12, "x": 12}])
def test_scores_are_the_ones_the_monitor_decides_on(
    self_reference: bool, chunks: dict[str, int] | None
) -> None:
    idx, sigma = _inputs()
    if chunks is not None:
        idx, sigma = idx.chunk(chunks), sigma.chunk(chunks)
    p = MonitorParams(expiry_days=None, confirm_threshold=-2.0)
    state = start(
        idx,
        monitor_start=at(idx, START),
        sigma=sigma,
        self_reference=self_reference,
        expiry_days=p.expiry_days,
        confirm_threshold=p.confirm_threshold,
    ).compute()
    z = scores(state, monitored_index(state, idx), sigma).compute()
    assert z.dims == ("time", "y", "x") and z.dtype == np.float32
    mon = z.isel(time=slice(START, None)).values
    times = idx["time"].values[START:].astype("datetime64[ns]")
    out = alerts(state)
    confirmed = out["confidence"].values == 2
    assert confirmed[4:10, 4:10].all() and confirmed[14:20, 3:8].all()
    assert not confirmed[16:20, 16:20].any()  # the single dip stays unconfirmed
    for y in range(24):
        for x in range(24):
            first, conf = _rule(mon[:, y, x], times, p)
            assert out["alert_date"].values[y, x] == first or not confirmed[y, x]
            assert confirmed[y, x] == (not np.isnat(conf))
            if confirmed[y, x]:
                assert state["confirm_time"].values[y, x] == conf.astype(np.int64)
            # The ring buffer holds the last scores before confirmation, bit for bit.
            valid = np.flatnonzero(~np.isnan(mon[:, y, x]))
            if confirmed[y, x]:
                valid = valid[times[valid] < conf]
            kept = mon[valid[-p.confirm_window :], y, x]
            buf = state["buf_z"].values[y, x]
            np.testing.assert_array_equal(buf[~np.isnan(buf)], kept)
    # Unmonitored pixels and history dates before monitor start still follow the state.
    assert np.isnan(z.values[:, ~state["eligible"].values]).all()


def test_monitored_index_gives_every_date_as_the_incremental_monitor_saw_it() -> None:
    idx, sigma = _inputs()
    part = start(idx.isel(time=slice(0, 40)), monitor_start=at(idx, START), sigma=sigma[:40])
    full = update(part, idx, sigma=sigma).compute()
    z = scores(full, monitored_index(full, idx.isel(time=slice(40, None))), sigma[40:]).values
    whole = scores(full, monitored_index(full, idx), sigma).values[40:]
    np.testing.assert_array_equal(z, whole)  # per date: any subset gives the same values
    # Pixels never confirmed keep their last four scores (all from the updated dates here).
    never = ~full["confirmed"].values
    for y, x in zip(*np.nonzero(never), strict=True):
        valid = z[:, y, x][~np.isnan(z[:, y, x])][-4:]
        buf = full["buf_z"].values[y, x]
        if valid.size == 4 and full["eligible"].values[y, x]:
            np.testing.assert_array_equal(buf, valid)


def test_the_reference_is_in_the_graph_once() -> None:
    """Sampling the monitored series next to a lazy start adds no self-reference tasks."""
    idx = series(60, 48, 48, cloud=0.3, seed=3).chunk({"time": -1, "y": 24, "x": 24})
    state = start(idx, monitor_start=at(idx, START))
    both = xr.merge([state, scores(state, monitored_index(state, idx)).rename("z")])
    alone = dict(state.__dask_graph__())
    extra = {k for k in dict(both.__dask_graph__()) if k not in alone}
    names = {(k[0] if isinstance(k, tuple) else k).rsplit("-", 1)[0] for k in extra}
    assert names and not any("cell" in n or "upsample" in n or "window" in n for n in names)
    assert len(extra) <= 3 * 4  # the score and its merge, per spatial chunk
