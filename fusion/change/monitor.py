"""GLAD/RADD-style per-pixel monitor: robust history, scored observations, confirmed alerts.

The monitor state is an :class:`xarray.Dataset` (see :data:`STATE_VARS`), so the same code
runs a whole series at once (:func:`fusion.detect`) or appends new acquisitions to a persisted
state (:mod:`fusion.change.state`), and both give identical results: every step is a pure
function of the state and one acquisition.

Rules (Hansen et al. 2016, Environ. Res. Lett. 11:034008 for GLAD; Reiche et al. 2021,
Environ. Res. Lett. 16:024005 for RADD):

- history (before ``monitor_start``): per-pixel median ``m`` and spread
  ``s = max(1.4826·MAD, spread_floor)``; pixels with fewer than ``min_history`` valid history
  values (or outside the forest baseline) are not monitored;
- a valid observation ``x`` with sigma ``σ`` scores ``z = (x − m) / sqrt(s² + σ²)``; it is an
  anomaly when ``z ≤ threshold``;
- an anomaly makes the pixel *provisional*; it is *confirmed* when ``confirm_needed`` of the
  next ``confirm_window`` valid observations score ``z ≤ confirm_threshold``; the provisional
  alert expires when that window passes (or ``expiry_days`` pass) without confirmation;
- with ``grow_m`` > 0, a provisional pixel whose live anomaly scored ``z ≤ grow_threshold``
  is also confirmed (*grown*) when a path of such pixels, at most ``grow_m`` long, links it to
  a pixel confirmed by its own observations whose first anomaly lies within ``expiry_days`` of
  its own. Growth is an overlay: a grown pixel keeps running the per-pixel rule, and only
  pixels confirmed by that rule seed growth, so a pixel's result depends on the pixels within
  ``grow_m`` alone (dask chunks are processed with that halo and give the same result);
- a confirmed alert is final: later regrowth does not remove it. ``alert_date`` is the first
  anomalous date, ``magnitude`` the mean drop ``m − x`` over the first anomaly and the
  observations that agreed with it.

Each pixel keeps only its last ``confirm_window`` valid scores (a ring buffer), so the state
is small and the earliest live anomaly in it decides: any later anomaly has fewer agreeing
observations after it.
"""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import xarray as xr
from dask import is_dask_collection
from scipy import ndimage

from fusion.change._robust import MAD_TO_SIGMA, nanmedian
from fusion.change.params import MonitorParams
from fusion.change.reference import grid_resolution
from fusion.errors import MonitorInputError

NAT = np.iinfo(np.int64).min  # int64 view of NaT
_NO_DAY = np.iinfo(np.int32).min  # no seed, in the day numbers of spatial confirmation
_NS_PER_DAY = 86_400 * 10**9
_COUNT_MAX = np.iinfo(np.uint16).max

#: Variables of the monitor state: name → (dims, dtype).
STATE_VARS: dict[str, tuple[tuple[str, ...], type]] = {
    "mean": (("y", "x"), np.float32),
    "spread": (("y", "x"), np.float32),
    "eligible": (("y", "x"), np.bool_),
    "buf_z": (("y", "x", "slot"), np.float32),
    "buf_drop": (("y", "x", "slot"), np.float32),
    "buf_time": (("y", "x", "slot"), np.int64),
    "alert_time": (("y", "x"), np.int64),
    "confirm_time": (("y", "x"), np.int64),
    "magnitude": (("y", "x"), np.float32),
    "confirmed": (("y", "x"), np.bool_),
    "valid_count": (("y", "x"), np.uint16),
    # Spatial confirmation (grow_m): whether, when (confirm time), first anomalous date, drop.
    "grown": (("y", "x"), np.bool_),
    "grown_time": (("y", "x"), np.int64),
    "grown_alert": (("y", "x"), np.int64),
    "grown_magnitude": (("y", "x"), np.float32),
}
_DYNAMIC = [n for n in STATE_VARS if n not in ("mean", "spread", "eligible")]


def _history_kernel(hist: np.ndarray, *, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    med = nanmedian(hist)
    mad = nanmedian(np.abs(hist - med[..., None]))
    spread = np.maximum(MAD_TO_SIGMA * mad, np.float32(floor)).astype(np.float32)
    return med, spread, np.isfinite(hist).sum(-1).astype(np.int32)


def history_state(
    history: xr.DataArray, *, gate: xr.DataArray | None, params: MonitorParams
) -> xr.Dataset:
    """Initial monitor state from the history part ``(time, y, x)`` of a series; lazy.

    ``gate`` (``(y, x)`` bool, e.g. the forest baseline) restricts the monitored pixels.
    """
    if is_dask_collection(history):
        history = history.chunk(time=-1)
    mean, spread, n = xr.apply_ufunc(
        _history_kernel,
        history,
        input_core_dims=[["time"]],
        output_core_dims=[[], [], []],
        dask="parallelized",
        output_dtypes=[np.float32, np.float32, np.int32],
        kwargs={"floor": params.spread_floor},
    )
    eligible = n >= params.min_history
    if gate is not None:
        eligible = eligible & gate
    slot = xr.zeros_like(mean, dtype=np.float32).expand_dims(slot=params.confirm_window, axis=-1)
    ds = xr.Dataset(
        {
            "mean": mean.where(eligible),
            "spread": spread.where(eligible),
            "eligible": eligible,
            "buf_z": slot + np.float32(np.nan),
            "buf_drop": slot + np.float32(np.nan),
            "buf_time": xr.full_like(slot, NAT, dtype=np.int64),
            "alert_time": xr.full_like(mean, NAT, dtype=np.int64),
            "confirm_time": xr.full_like(mean, NAT, dtype=np.int64),
            "magnitude": xr.full_like(mean, np.nan),
            "confirmed": xr.zeros_like(mean, dtype=np.bool_),
            "valid_count": xr.zeros_like(mean, dtype=np.uint16),
            "grown": xr.zeros_like(mean, dtype=np.bool_),
            "grown_time": xr.full_like(mean, NAT, dtype=np.int64),
            "grown_alert": xr.full_like(mean, NAT, dtype=np.int64),
            "grown_magnitude": xr.full_like(mean, np.nan),
        }
    )
    return ds.drop_vars([c for c in ds.coords if "time" in ds[c].dims or c == "time"])


def _spread_variance(spread: np.ndarray) -> np.ndarray:
    """``s²`` of the history spread, float32: the part of the score's variance fixed at start."""
    return np.asarray(spread).astype(np.float32) ** 2


def _score(
    x: np.ndarray, mean: np.ndarray, var0: np.ndarray, sigma: np.ndarray | None
) -> np.ndarray:
    """The monitor's score ``z = (x − m) / sqrt(s² + σ²)`` of observations ``x``, float32.

    ``mean`` is the history mean ``m``, ``var0`` is :func:`_spread_variance` of the history
    spread and ``sigma`` the observations' sigma (None: no observation term); all broadcast
    elementwise. The one place the score is computed: :func:`_advance_kernel` decides with it
    and :func:`scores` reports it.
    """
    var = var0 if sigma is None else var0 + sigma.astype(np.float32) ** 2
    return ((x - mean) / np.sqrt(var)).astype(np.float32)


def _scores_kernel(
    x: np.ndarray, mean: np.ndarray, spread: np.ndarray, eligible: np.ndarray, *s: np.ndarray
) -> np.ndarray:
    # float32 like the monitor's checked inputs, so the arithmetic is the same.
    x = np.asarray(x).astype(np.float32, copy=False)
    z = _score(x, mean, _spread_variance(spread), s[0] if s else None)
    return np.where(eligible, z, np.float32(np.nan))


def scores(
    state: xr.Dataset, index: xr.DataArray, sigma: xr.DataArray | None = None
) -> xr.DataArray:
    """The score ``z`` the monitor gives each observation of ``index``, ``(time, y, x)`` float32.

    ``index`` is the series the monitor sees (self-referenced when the state is:
    :func:`fusion.change.state.monitored_index`), ``sigma`` its sigma as given to
    :func:`advance`. The values are the monitor's own (:func:`_score`, the state's history mean
    and spread): an observation is anomalous when ``z ≤ threshold`` and agrees with an earlier
    anomaly when ``z ≤ agree_threshold``. The monitor stops scoring a pixel once it confirms an
    alert; this gives every observation its score. NaN where the observation (or its sigma) is
    missing or the pixel is not monitored. Lazy like its inputs.
    """
    fixed = [state["mean"], state["spread"], state["eligible"]]
    arrays = [index, *fixed] + ([] if sigma is None else [sigma])
    z = xr.apply_ufunc(_scores_kernel, *arrays, dask="parallelized", output_dtypes=[np.float32])
    return z.transpose("time", "y", "x").rename("score")


def _advance_kernel(
    x: np.ndarray,
    s: np.ndarray | None,
    mean: np.ndarray,
    spread: np.ndarray,
    eligible: np.ndarray,
    *dynamic: np.ndarray,
    times: np.ndarray,
    params: MonitorParams,
    grow_px: int = 0,
) -> tuple[np.ndarray, ...]:
    shape, npix = mean.shape, mean.size
    w = params.confirm_window
    # (time, pixel) copies: each step reads one contiguous row.
    xs = np.ascontiguousarray(x.reshape(npix, -1).T)
    ss = None if s is None else np.ascontiguousarray(s.reshape(npix, -1).T)
    m = mean.reshape(npix)
    var0 = _spread_variance(spread.reshape(npix))
    ok = eligible.reshape(npix)
    # Ring buffers as (slot, pixel), oldest slot first. Always copies: the input may be the
    # previous state's memory (already slot-major), which must stay untouched.
    bz, bd, bt = (np.array(a.reshape(npix, w).T, order="C", copy=True) for a in dynamic[:3])
    alert, conf, mag, confirmed, count, grown, g_time, g_alert, g_mag = (
        a.reshape(npix).copy() for a in dynamic[3:]
    )
    agree = np.float32(params.agree_threshold)
    slots = np.arange(w)[:, None]
    for i, t in enumerate(times.tolist()):
        seen = ~np.isnan(xs[i]) if ss is None else ~(np.isnan(xs[i]) | np.isnan(ss[i]))
        count[seen & (count < _COUNT_MAX)] += 1
        # Only unconfirmed monitored pixels with a valid value take part: under 70 % cloud
        # that is a fraction of the tile, so gather them once per step.
        act = np.flatnonzero(seen & ok & ~confirmed)
        if act.size == 0:
            continue
        xa, ma = xs[i, act], m[act]
        z = _score(xa, ma, var0[act], None if ss is None else ss[i, act])
        drop = (ma - xa).astype(np.float32)
        bza, bda, bta = bz[:, act], bd[:, act], bt[:, act]
        live = _live(bza, bta, params.threshold, now=t, params=params)
        first = np.argmax(live, axis=0)
        chain = ((bza <= agree) & (slots > first)) | (slots == first)
        n_chain = chain.sum(0)
        done = (z <= agree) & live.any(axis=0) & (n_chain >= params.confirm_needed)
        if done.any():
            hit = act[done]
            total = np.where(chain, bda, 0).sum(0, dtype=np.float32) + drop
            alert[hit] = bta[first, np.arange(act.size)][done]
            conf[hit] = t
            mag[hit] = (total / (n_chain + 1))[done]
            confirmed[hit] = True
        keep = ~done
        push = act[keep]
        bz[:, push] = np.vstack([bza[1:, keep], z[keep][None]])
        bd[:, push] = np.vstack([bda[1:, keep], drop[keep][None]])
        bt[:, push] = np.vstack([bta[1:, keep], np.full((1, push.size), t, np.int64)])
        # Growth can only change when a seed or an anomaly appeared: a pixel confirmed itself
        # or a new anomaly was pushed (z at or below the spatial threshold).
        if grow_px and (done.any() or (z[keep] <= params.spatial_threshold).any()):
            g_hit, g_first, g_drop = _grow(
                bz,
                bd,
                bt,
                ok & ~grown,
                confirmed,
                alert,
                shape=shape,
                now=t,
                steps=grow_px,
                params=params,
            )
            grown[g_hit], g_time[g_hit], g_alert[g_hit], g_mag[g_hit] = True, t, g_first, g_drop
    out = [a.T.reshape(*shape, w) for a in (bz, bd, bt)]
    out += [
        a.reshape(shape)
        for a in (alert, conf, mag, confirmed, count, grown, g_time, g_alert, g_mag)
    ]
    return tuple(out)


def _live(
    bz: np.ndarray, bt: np.ndarray, threshold: float, *, now: int, params: MonitorParams
) -> np.ndarray:
    """Ring-buffer slots holding an anomaly at or below ``threshold`` that has not expired at
    ``now`` (``expiry_days``); any layout, elementwise."""
    live = bz <= np.float32(threshold)
    if params.expiry_days is not None:
        live &= bt >= now - int(params.expiry_days * _NS_PER_DAY)
    return live


def _open_alert(
    bz: np.ndarray, bd: np.ndarray, bt: np.ndarray, *, now: int, params: MonitorParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The live provisional alert of each pixel's ring buffer (slot axis last) at ``now``:
    whether one is open, its first anomalous time and its mean drop over the first anomaly and
    the later agreeing scores (NaN where none)."""
    live = _live(bz, bt, params.threshold, now=now, params=params)
    first = np.argmax(live, axis=-1)[..., None]
    slots = np.arange(bz.shape[-1])
    chain = ((bz <= np.float32(params.agree_threshold)) & (slots > first)) | (slots == first)
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = np.where(chain, bd, 0).sum(-1, dtype=np.float32) / chain.sum(-1)
    first_time = np.take_along_axis(bt, first, axis=-1)[..., 0]
    return np.asarray(live.any(-1)), first_time, drop.astype(np.float32)


def _grow(
    bz: np.ndarray,
    bd: np.ndarray,
    bt: np.ndarray,
    open_to: np.ndarray,
    confirmed: np.ndarray,
    alert: np.ndarray,
    *,
    shape: tuple[int, ...],
    now: int,
    steps: int,
    params: MonitorParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels that spatial confirmation confirms at ``now``: flat indices, first anomalous
    times and mean drops. Ring buffers are ``(slot, pixel)``; ``open_to`` marks the monitored
    pixels not grown yet; ``confirmed``/``alert`` are the per-pixel rule's own results.

    Every input is per pixel and free of growth (grown pixels keep their own buffers), so
    the result depends on the pixels within ``steps`` alone.
    """
    empty = np.empty(0, np.int64)
    strong = _live(bz, bt, params.spatial_threshold, now=now, params=params)
    path = strong.any(0) & ~confirmed  # pixels a path may cross: a strong live anomaly
    todo = path & open_to
    if not todo.any() or not confirmed.any():
        return empty, empty, np.empty(0, np.float32)
    # The seeds' first anomalous dates spread along paths, one pixel per step; only the box
    # around the candidates (plus the path length) can reach them.
    rows, cols = np.nonzero(todo.reshape(shape))
    box = (
        slice(max(rows.min() - steps, 0), rows.max() + steps + 1),
        slice(max(cols.min() - steps, 0), cols.max() + steps + 1),
    )
    # In whole days, int32: scipy's filters pass int64 through float64 (exact below 2**53
    # only, and nanosecond times are near 2**61).
    reach = np.where(confirmed, alert // _NS_PER_DAY, _NO_DAY).astype(np.int32)
    reach = reach.reshape(shape)[box]
    crossable = path.reshape(shape)[box]
    for _ in range(steps):
        nxt = np.where(
            crossable, ndimage.maximum_filter(reach, size=3, mode="constant", cval=_NO_DAY), reach
        )
        if np.array_equal(nxt, reach):
            break
        reach = nxt
    seed_day = reach[rows - box[0].start, cols - box[1].start]
    flat = np.ravel_multi_index((rows, cols), shape)
    _, first, drop = _open_alert(
        bz[:, flat].T, bd[:, flat].T, bt[:, flat].T, now=now, params=params
    )
    near = seed_day != _NO_DAY
    if params.expiry_days is not None:
        near &= np.abs(seed_day - first // _NS_PER_DAY) <= params.expiry_days
    return flat[near], first[near], drop[near]


def advance(state: xr.Dataset, index: xr.DataArray, sigma: xr.DataArray | None) -> xr.Dataset:
    """Process the acquisitions of ``index`` (``(time, y, x)``, all newer than the state's).

    Lazy: dask in, dask out; time must be one chunk (it is rechunked if not). ``last_time``
    in the returned state's attrs is the newest acquisition processed.
    """
    if index.sizes["time"] == 0:
        return state
    params = params_of(state)
    times = index["time"].values.astype("datetime64[ns]").astype(np.int64)
    lazy = is_dask_collection(index) or (sigma is not None and is_dask_collection(sigma))
    if lazy:
        index = index.chunk(time=-1)
        sigma = None if sigma is None else sigma.chunk(time=-1)
    arrays = [index.drop_vars("time")]
    if sigma is not None:
        arrays.append(sigma.drop_vars("time"))
    fixed = [state["mean"], state["spread"], state["eligible"]]
    dynamic = [state[n] for n in _DYNAMIC]
    core = (
        [["time"]] * len(arrays)
        + [[]] * 3
        + [["slot"] if "slot" in state[n].dims else [] for n in _DYNAMIC]
    )
    out_core = [["slot"] if "slot" in state[n].dims else [] for n in _DYNAMIC]

    steps = grow_steps(state, params)

    def kernel(*a: np.ndarray) -> tuple[np.ndarray, ...]:
        s = a[1] if sigma is not None else None
        rest = a[len(arrays) :]
        return _advance_kernel(a[0], s, *rest, times=times, params=params, grow_px=steps)

    args = [*arrays, *fixed, *dynamic]
    # Growth looks `steps` pixels around each pixel: dask chunks get that halo (trimmed
    # after), so the result does not depend on the chunking.
    halo = _halo(index, steps) if lazy and steps else {}
    if halo:
        args = _with_halo(args, like=index, halo=halo)
    results = xr.apply_ufunc(
        kernel,
        *args,
        input_core_dims=core,
        output_core_dims=out_core,
        dask="parallelized",
        output_dtypes=[STATE_VARS[n][1] for n in _DYNAMIC],
        dask_gufunc_kwargs={"output_sizes": {"slot": params.confirm_window}},
    )
    new = state.copy()
    for name, arr in zip(_DYNAMIC, results, strict=True):
        if halo:
            arr = _trim_halo(arr, like=state[name], halo=halo)
        new[name] = arr.transpose(*state[name].dims)
    new.attrs = {**state.attrs, "last_time": str(np.datetime64(int(times[-1]), "ns"))}
    return new


def grow_steps(state: xr.Dataset, params: MonitorParams) -> int:
    """``grow_m`` in pixels of the state's grid (0: growth off, or a single pixel).

    Raises:
        MonitorInputError: growth is on and the grid has no metric pixel size.
    """
    if params.grow_m == 0 or (state.sizes["y"] <= 1 and state.sizes["x"] <= 1):
        return 0
    try:
        resolution = grid_resolution(state["mean"])
    except MonitorInputError as err:
        raise MonitorInputError(
            f"monitor parameter grow_m={params.grow_m} needs the pixel size in metres, which "
            "this grid lacks: give the index a metric (UTM) grid (an odc-geo geobox, or "
            "regular y/x coordinates in metres) or pass grow_m=0"
        ) from err
    return int(params.grow_m / resolution + 1e-9)


def _halo(index: xr.DataArray, steps: int) -> dict[str, int]:
    """Per grid dim, the halo each dask chunk needs: ``steps``, or 0 along a dim that is one
    chunk (or no wider than ``steps``, which :func:`_with_halo` then makes one chunk: dask
    cannot overlap by more than the grid's size)."""
    return {
        d: steps if len(index.chunksizes[d]) > 1 and index.sizes[d] > steps else 0
        for d in ("y", "x")
    }


def _with_halo(
    arrays: list[xr.DataArray], *, like: xr.DataArray, halo: dict[str, int]
) -> list[xr.DataArray]:
    """``arrays`` on ``like``'s y/x chunks, each chunk extended by ``halo`` pixels of its
    neighbours (none beyond the grid's edge); coordinates dropped (the sizes grow)."""
    chunks = {d: like.chunksizes[d] if halo[d] else -1 for d in halo}
    out = []
    for a in arrays:
        a = a.chunk(chunks)
        axes = {a.get_axis_num(d): n for d, n in halo.items()}
        out.append(xr.DataArray(da.overlap.overlap(a.data, axes, boundary="none"), dims=a.dims))
    return out


def _trim_halo(arr: xr.DataArray, *, like: xr.DataArray, halo: dict[str, int]) -> xr.DataArray:
    """The inverse of :func:`_with_halo` for one result, with ``like``'s coordinates."""
    axes = {arr.get_axis_num(d): n for d, n in halo.items()}
    data = da.overlap.trim_internal(arr.data, axes, boundary="none")
    return xr.DataArray(data, dims=arr.dims, coords={d: like[d] for d in ("y", "x")})


def params_of(state: xr.Dataset) -> MonitorParams:
    """The :class:`MonitorParams` a state was started with."""
    return MonitorParams(**json.loads(state.attrs["params"]))


def _alerts_kernel(
    eligible: np.ndarray,
    bz: np.ndarray,
    bd: np.ndarray,
    bt: np.ndarray,
    alert: np.ndarray,
    conf: np.ndarray,
    mag: np.ndarray,
    confirmed: np.ndarray,
    grown: np.ndarray,
    g_time: np.ndarray,
    g_alert: np.ndarray,
    g_mag: np.ndarray,
    *,
    last: int,
    params: MonitorParams,
) -> tuple[np.ndarray, ...]:
    live, first_time, pmag = _open_alert(bz, bd, bt, now=last, params=params)
    # A grown pixel was confirmed before its own looks did (growth needs it unconfirmed):
    # its alert is the grown one, even if its own looks confirmed it later.
    alert = np.where(grown, g_alert, alert)
    conf = np.where(grown, g_time, conf)
    mag = np.where(grown, g_mag, mag)
    confirmed = confirmed | grown
    provisional = live & ~confirmed & eligible
    date = np.where(confirmed, alert, np.where(provisional, first_time, NAT))
    magnitude = np.where(confirmed, mag, np.where(provisional, pmag, np.nan)).astype(np.float32)
    confidence = np.where(confirmed, 2, np.where(provisional, 1, 0)).astype(np.uint8)
    return date.astype("datetime64[ns]"), confidence, magnitude, conf.astype("datetime64[ns]")


def alerts(state: xr.Dataset) -> xr.Dataset:
    """The alert layers of a state: ``alert_date``, ``confidence``, ``magnitude``,
    ``valid_count`` and ``confirmed_date``, all ``(y, x)``; lazy like the state."""
    params = params_of(state)
    last = np.datetime64(state.attrs["last_time"], "ns").astype(np.int64)
    names = ["eligible", "buf_z", "buf_drop", "buf_time", "alert_time", "confirm_time"]
    names += ["magnitude", "confirmed", "grown", "grown_time", "grown_alert", "grown_magnitude"]
    date, confidence, magnitude, confirmed_date = xr.apply_ufunc(
        _alerts_kernel,
        *(state[n] for n in names),
        input_core_dims=[["slot"] if "slot" in state[n].dims else [] for n in names],
        output_core_dims=[[], [], [], []],
        dask="parallelized",
        output_dtypes=[
            np.dtype("datetime64[ns]"),
            np.uint8,
            np.float32,
            np.dtype("datetime64[ns]"),
        ],
        kwargs={"last": int(last), "params": params},
    )
    out = xr.Dataset(
        {
            "alert_date": date,
            "confidence": confidence,
            "magnitude": magnitude,
            "valid_count": state["valid_count"],
            "confirmed_date": confirmed_date,
        },
        attrs={
            k: state.attrs[k] for k in ("monitor_start", "last_time", "params") if k in state.attrs
        },
    )
    out["confidence"].attrs = {
        "flag_values": [0, 1, 2],
        "flag_meanings": "none provisional confirmed",
    }
    out["magnitude"].attrs = {
        "long_name": "mean index drop over the alert's anomalous observations"
    }
    out["valid_count"].attrs = {"long_name": "valid observations since monitor_start"}
    return out
