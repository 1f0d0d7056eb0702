"""The index series at the largest alerts: candidates per block, matched to the polygons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.bands import Sensor
from fusion.change.polygons import alert_polygons
from fusion.pipeline.samples import (
    PINNED_DIMS,
    SAMPLE_COLUMNS,
    Pinned,
    alert_candidates,
    alert_samples,
    observation_sensors,
    pinned_series,
)

NY = NX = 60
TIMES = np.array(
    [np.datetime64("2023-01-01", "ns") + np.timedelta64(16 * i, "D") for i in range(8)]
)
T0 = np.datetime64("2023-06-01", "ns")


def _alerts() -> xr.Dataset:
    """Four patches: A confirmed 1 ha across the 25-pixel chunk corners, B provisional 0.36 ha,
    C confirmed 0.09 ha, D provisional 0.04 ha."""
    conf = np.zeros((NY, NX), np.uint8)
    conf[20:30, 20:30] = 2  # A
    conf[40:46, 40:46] = 1  # B
    conf[50:53, 10:13] = 2  # C
    conf[5:7, 50:52] = 1  # D
    on = conf > 0
    rows, cols = np.indices(conf.shape)
    # Each pixel its own date, so the test can tell which pixel was sampled.
    date = np.where(on, T0 + (rows * NX + cols) * np.timedelta64(1, "h"), np.datetime64("NaT"))
    confirmed = np.where(conf == 2, date + np.timedelta64(20, "D"), np.datetime64("NaT"))
    gbox = GeoBox.from_bbox((0, 0, NX * 10, NY * 10), crs="EPSG:32635", resolution=10)
    return xr.Dataset(
        {
            "alert_date": (("y", "x"), date.astype("datetime64[ns]")),
            "confidence": (("y", "x"), conf),
            "magnitude": (("y", "x"), np.where(on, 0.3, np.nan).astype(np.float32)),
            "confirmed_date": (("y", "x"), confirmed.astype("datetime64[ns]")),
        },
        coords=xr_coords(gbox),
    )


def _series(alerts: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    t, rows, cols = np.indices((len(TIMES), NY, NX))
    values = (t * 10_000 + rows * NX + cols).astype(np.float32)
    values[3] = np.nan  # a cloudy date: left out of the samples
    coords = {"time": TIMES, "y": alerts["y"], "x": alerts["x"]}
    index = xr.DataArray(values, dims=("time", "y", "x"), coords=coords)
    return index, index / 1000


def _pixel(alerts: xr.Dataset, x: float, y: float) -> tuple[int, int]:
    return int(np.flatnonzero(alerts["y"].values == y)[0]), int(
        np.flatnonzero(alerts["x"].values == x)[0]
    )


@pytest.mark.parametrize("chunk", [None, 60, 25])
def test_samples_are_the_series_at_a_pixel_of_each_largest_alert(chunk: int | None) -> None:
    alerts = _alerts()
    index, sigma = _series(alerts)
    score = -index / 10_000
    if chunk is not None:
        # The score chunked unlike the index: the candidates align it.
        score = score.chunk({"time": 3, "y": 7, "x": 60})
        index, sigma = (a.chunk({"time": -1, "y": chunk, "x": chunk}) for a in (index, sigma))
    polygons = alert_polygons(alerts, sensors=["sentinel2"], run_id="r")
    candidates = alert_candidates(alerts, index, sigma, score=score).compute().values
    labels = np.array(["sentinel2"] * len(TIMES), dtype=object)
    frame = alert_samples(
        candidates, polygons, alerts, times=TIMES, sensors=labels, tile="t1", top_n=3
    )
    assert list(frame.columns) == SAMPLE_COLUMNS
    assert sorted(frame["alert_rank"].unique()) == [1, 2, 3]
    expected = {
        1: (1.0, 2, slice(20, 30)),
        2: (0.36, 1, slice(40, 46)),
        3: (0.09, 2, slice(50, 53)),
    }
    for rank, rows in frame.groupby("alert_rank"):
        area, confidence, span = expected[int(rank)]
        assert rows["area_ha"].iloc[0] == pytest.approx(area)
        assert rows["confidence"].iloc[0] == confidence
        row, col = _pixel(alerts, rows["x"].iloc[0], rows["y"].iloc[0])
        assert span.start <= row < span.stop  # a pixel of that alert
        assert len(rows) == len(TIMES) - 1  # the NaN date is dropped
        truth = index.isel(y=row, x=col).values
        np.testing.assert_array_equal(rows["value"].to_numpy(), truth[np.isfinite(truth)])
        np.testing.assert_allclose(rows["sigma"].to_numpy(), truth[np.isfinite(truth)] / 1000)
        np.testing.assert_allclose(rows["score"].to_numpy(), -truth[np.isfinite(truth)] / 10_000)
        assert rows["alert_date"].iloc[0] == pd.Timestamp(alerts["alert_date"].values[row, col])
    # The confirmed alert carries its pixel's confirmation; the provisional one none.
    assert frame.loc[frame.alert_rank == 1, "confirmed_date"].notna().all()
    assert frame.loc[frame.alert_rank == 2, "confirmed_date"].isna().all()


def test_a_block_keeps_only_its_largest_patches() -> None:
    alerts = _alerts()
    index, sigma = _series(alerts)
    polygons = alert_polygons(alerts, sensors=["sentinel2"], run_id="r")
    candidates = alert_candidates(alerts, index, sigma, per_block=1).compute().values
    assert candidates.shape == (1, 1, 1, 3 + 3 * len(TIMES))
    frame = alert_samples(
        candidates,
        polygons,
        alerts,
        times=TIMES,
        sensors=np.array(["sentinel2"] * len(TIMES)),
        tile="t1",
    )
    # One block, one candidate: only the largest alert has a series.
    assert frame["alert_rank"].unique().tolist() == [1]
    assert frame["value"].notna().all() and frame["score"].isna().all()  # no score given


def test_no_polygons_give_an_empty_frame() -> None:
    alerts = _alerts()
    alerts["confidence"][:] = 0
    index, sigma = _series(alerts)
    polygons = alert_polygons(alerts, sensors=["sentinel2"], run_id="r")
    candidates = alert_candidates(alerts, index, sigma).compute().values
    assert np.isnan(candidates).all()
    frame = alert_samples(
        candidates, polygons, alerts, times=TIMES, sensors=np.array(["x"] * 8), tile="t"
    )
    assert frame.empty
    assert list(frame.columns) == SAMPLE_COLUMNS


def test_observation_sensors_follow_the_dense_series_order() -> None:
    def scenes(times: list[str]) -> xr.Dataset:
        return xr.Dataset(coords={"time": np.array(times, dtype="datetime64[ns]")})

    loaded: dict[Sensor, xr.Dataset] = {
        "landsat": scenes(["2023-01-02", "2023-01-05"]),
        "sentinel2": scenes(["2023-01-01", "2023-01-05", "2023-01-09"]),
    }
    times = np.array(["2023-01-01", "2023-01-02", "2023-01-05", "2023-01-09"], "datetime64[ns]")
    fused = observation_sensors(times, loaded, series="fused")
    # A shared instant is Landsat's: dense_index keeps the Landsat observation.
    assert fused.tolist() == ["sentinel2", "landsat", "landsat", "sentinel2"]
    s2 = observation_sensors(times[[0, 2, 3]], loaded, series="sentinel2")
    assert s2.tolist() == ["sentinel2"] * 3


def test_patches_outside_the_mask_do_not_take_the_places() -> None:
    alerts = _alerts()
    index, sigma = _series(alerts)
    mask = xr.ones_like(alerts["confidence"], dtype=bool)
    mask[15:35, 15:35] = False  # patch A is outside the AOI: the polygons never see it
    inside = alerts.copy()
    inside["confidence"] = alerts["confidence"].where(mask, 0)
    polygons = alert_polygons(inside, sensors=["sentinel2"], run_id="r")
    candidates = alert_candidates(alerts, index, sigma, mask=mask, per_block=1).compute().values
    frame = alert_samples(
        candidates, polygons, alerts, times=TIMES, sensors=np.array(["s"] * 8), tile="t"
    )
    # The one candidate of the block is B, now the largest alert.
    assert frame["alert_rank"].unique().tolist() == [1]
    assert frame["area_ha"].iloc[0] == pytest.approx(0.36)


@pytest.mark.parametrize("chunk", [None, 25])
def test_an_alert_holding_a_pinned_pixel_keeps_it(chunk: int | None) -> None:
    alerts = _alerts()
    index, sigma = _series(alerts)
    if chunk is not None:
        index, sigma = (a.chunk({"time": -1, "y": chunk, "x": chunk}) for a in (index, sigma))
    polygons = alert_polygons(alerts, sensors=["sentinel2"], run_id="r")
    candidates = alert_candidates(alerts, index, sigma).compute().values
    # An earlier run charted a corner pixel of A (not the centroid a candidate takes) and a
    # pixel that is in no alert now.
    x = alerts["x"].values[[21, 2]]
    y = alerts["y"].values[[22, 2]]
    pinned = pinned_series(index, sigma, x=x, y=y)
    assert pinned.dims == PINNED_DIMS and pinned.shape == (2, 3, len(TIMES))
    frame = alert_samples(
        candidates,
        polygons,
        alerts,
        times=TIMES,
        sensors=np.array(["s"] * len(TIMES)),
        tile="t",
        pinned=Pinned(x=x, y=y, series=pinned.compute().values),
    )
    first = frame[frame.alert_rank == 1]
    assert _pixel(alerts, first["x"].iloc[0], first["y"].iloc[0]) == (22, 21)
    truth = index.isel(y=22, x=21).values
    np.testing.assert_array_equal(first["value"].to_numpy(), truth[np.isfinite(truth)])
    assert first["score"].isna().all()  # no score given
    assert first["alert_date"].iloc[0] == pd.Timestamp(alerts["alert_date"].values[22, 21])
    # The other alerts take their candidates as before.
    assert sorted(frame["alert_rank"].unique()) == [1, 2, 3]
