"""Incremental monitor state: equals a run from scratch, reruns are no-ops, files are atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _change_helpers import at, series
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.change import alerts, detect, start, update
from fusion.change.store import ZarrStateStore, load_state, save_state
from fusion.errors import MonitorStateError, OutputError

START = 15


def _scene(seed: int = 40) -> tuple[xr.DataArray, xr.DataArray]:
    idx = series(45, 16, 16, cloud=0.4, seed=seed)
    data = idx.values.copy()
    data[22:, 3:8, 3:8] = np.where(np.isnan(data[22:, 3:8, 3:8]), np.nan, 0.2)
    data[30, 10:, 10:] = 0.35  # a one-date dip that expires
    idx = idx.copy(data=data)
    sigma = xr.full_like(idx, 0.01).where(np.isfinite(idx))
    return idx, sigma


def _incremental(idx: xr.DataArray, sigma: xr.DataArray, splits: list[int]) -> xr.Dataset:
    first = splits[0]
    state = start(
        idx.isel(time=slice(0, first)),
        monitor_start=at(idx, START),
        sigma=sigma.isel(time=slice(0, first)),
    )
    for a, b in zip(splits, [*splits[1:], idx.sizes["time"]], strict=True):
        state = update(state, idx.isel(time=slice(a, b)), sigma=sigma.isel(time=slice(a, b)))
    return state


def test_incremental_equals_from_scratch_exactly() -> None:
    idx, sigma = _scene()
    full = start(idx, monitor_start=at(idx, START), sigma=sigma)
    for splits in ([START], [20], [16, 23, 31, 32, 40], [44]):
        inc = _incremental(idx, sigma, splits)
        xr.testing.assert_identical(inc, full)
    xr.testing.assert_identical(
        alerts(full), detect(idx, monitor_start=at(idx, START), sigma=sigma)
    )
    assert int((alerts(full)["confidence"] == 2).sum()) > 0


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(START, 44), min_size=1, max_size=4, unique=True).map(sorted))
def test_incremental_equals_from_scratch_for_any_splits(splits: list[int]) -> None:
    idx, sigma = _scene(seed=41)
    full = start(idx, monitor_start=at(idx, START), sigma=sigma)
    xr.testing.assert_identical(_incremental(idx, sigma, splits), full)


def test_incremental_on_dask_equals_numpy() -> None:
    idx, sigma = _scene(seed=42)
    full = start(idx, monitor_start=at(idx, START), sigma=sigma)
    state = start(idx.isel(time=slice(0, 25)).chunk(y=8, x=5), monitor_start=at(idx, START))
    state = update(
        state.compute(),
        idx.isel(time=slice(25, None)).chunk(y=8, x=5),
        sigma=sigma.isel(time=slice(25, None)),
    )
    # (the first part ran without sigma: compare against the same on numpy)
    ref = update(
        start(idx.isel(time=slice(0, 25)), monitor_start=at(idx, START)),
        idx.isel(time=slice(25, None)),
        sigma=sigma.isel(time=slice(25, None)),
    )
    xr.testing.assert_identical(state.compute(), ref)
    assert full.attrs["last_time"] == ref.attrs["last_time"]


def test_rerun_with_nothing_new_is_a_no_op(tmp_path: Path) -> None:
    idx, sigma = _scene()
    state = start(idx, monitor_start=at(idx, START), sigma=sigma)
    assert update(state, idx, sigma=sigma) is state
    assert update(state, idx.isel(time=slice(0, 30))) is state
    store = ZarrStateStore(tmp_path)
    store.save("T1", state)
    before = store.path("T1").read_bytes()
    loaded = store.load("T1")
    assert loaded is not None
    again = update(loaded, idx, sigma=sigma)
    assert again is loaded
    store.save("T1", again)
    assert store.path("T1").read_bytes() == before


def test_overlapping_new_series_only_processes_newer_dates() -> None:
    idx, sigma = _scene()
    full = start(idx, monitor_start=at(idx, START), sigma=sigma)
    part = start(
        idx.isel(time=slice(0, 30)),
        monitor_start=at(idx, START),
        sigma=sigma.isel(time=slice(0, 30)),
    )
    xr.testing.assert_identical(update(part, idx, sigma=sigma), full)


def test_store_round_trip_and_missing_tile(tmp_path: Path) -> None:
    idx, sigma = _scene()
    state = start(idx.chunk(y=8), monitor_start=at(idx, START), sigma=sigma.chunk(y=8))
    store = ZarrStateStore(tmp_path / "states")
    assert store.load("T9") is None
    store.save("T9", state)
    loaded = store.load("T9")
    assert loaded is not None
    xr.testing.assert_identical(loaded, state.compute())
    assert loaded.odc.geobox == idx.odc.geobox
    assert list(tmp_path.joinpath("states").iterdir()) == [store.path("T9")]


def test_failed_write_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx, _ = _scene()
    old = start(idx.isel(time=slice(0, 30)), monitor_start=at(idx, START))
    path = tmp_path / "T.zarr.zip"
    save_state(old, path)
    new = update(old, idx)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(OutputError, match="No space left"):
        save_state(new, path)
    monkeypatch.undo()
    xr.testing.assert_identical(load_state(path), old)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_unreadable_or_foreign_state_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zarr.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(MonitorStateError, match="unreadable"):
        load_state(bad)
    idx, _ = _scene()
    state = start(idx, monitor_start=at(idx, START))
    old = state.assign_attrs(state_version=0)
    with pytest.raises(MonitorStateError, match="version"):
        update(old, idx)
    save_state(old, tmp_path / "old.zarr.zip")
    with pytest.raises(MonitorStateError, match="version"):
        load_state(tmp_path / "old.zarr.zip")
    with pytest.raises(MonitorStateError, match="grid"):
        update(state, idx.isel(x=slice(1, None)))


def test_update_leaves_its_input_state_untouched() -> None:
    idx, sigma = _scene()
    state = start(idx.isel(time=slice(0, 25)), monitor_start=at(idx, START))
    state = update(state, idx.isel(time=slice(25, 35)))
    before = state.copy(deep=True)
    update(state, idx, sigma=sigma)
    xr.testing.assert_identical(state, before)
