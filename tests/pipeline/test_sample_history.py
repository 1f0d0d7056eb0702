"""The charted alerts' history across scheduled runs: kept up to the settled state, put in
front of the next run's series, and dropped when a pixel is no longer charted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusion.pipeline.sample_history import (
    HISTORY_COLUMNS,
    history_path,
    load_history,
    next_history,
    pins,
    save_history,
    with_history,
)
from fusion.pipeline.samples import SAMPLE_COLUMNS


def _samples(rank: int, x: float, y: float, days: list[str], *, area: float = 1.0) -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame(
        {
            "tile": "t1",
            "alert_rank": rank,
            "time": pd.to_datetime(days),
            "sensor": "sentinel2",
            "value": np.arange(n, dtype=np.float32) + x,
            "sigma": np.float32(0.01),
            "score": np.float32(-1.0),
            "x": x,
            "y": y,
            "area_ha": area,
            "confidence": 2,
            "alert_date": pd.Timestamp("2023-08-01"),
            "confirmed_date": pd.Timestamp("2023-08-11"),
        }
    )[SAMPLE_COLUMNS]


def test_history_keeps_charted_pixels_up_to_the_settled_state() -> None:
    first = pd.concat(
        [
            _samples(1, 5.0, 15.0, ["2023-06-01", "2023-07-01", "2023-08-01"]),
            _samples(2, 25.0, 35.0, ["2023-06-11", "2023-08-21"]),
        ]
    )
    kept = next_history(first, None, settled=np.datetime64("2023-07-15"))
    assert list(kept.columns) == HISTORY_COLUMNS
    # Observations after the settled state are replayed by the next run: not kept.
    assert kept["time"].max() < pd.Timestamp("2023-07-15")
    assert len(kept) == 3
    assert [tuple(p) for p in np.column_stack(pins(kept))] == [(5.0, 15.0), (25.0, 35.0)]

    # The next run charts pixel (5, 15) again and no longer (25, 35).
    second = _samples(1, 5.0, 15.0, ["2023-08-01", "2023-09-01"], area=2.0)
    shown = with_history(second, kept)
    assert shown["time"].tolist() == list(
        pd.to_datetime(["2023-06-01", "2023-07-01", "2023-08-01", "2023-09-01"])
    )
    assert (shown["area_ha"] == 2.0).all()  # the alert as this run sees it
    assert shown["value"].tolist()[:2] == [5.0, 6.0]  # the earlier run's values
    later = next_history(second, kept, settled=np.datetime64("2023-08-15"))
    assert set(zip(later["x"], later["y"], strict=True)) == {(5.0, 15.0)}
    assert later["time"].tolist() == list(
        pd.to_datetime(["2023-06-01", "2023-07-01", "2023-08-01"])
    )


def test_no_history_leaves_the_samples_as_they_are(tmp_path: Path) -> None:
    samples = _samples(1, 5.0, 15.0, ["2023-06-01"])
    pd.testing.assert_frame_equal(with_history(samples, None), samples)
    assert load_history(tmp_path, "t1") is None
    assert pins(None)[0].size == 0
    kept = next_history(samples, None, settled=np.datetime64("2023-12-31"))
    path = save_history(kept, tmp_path, "t1")
    assert path == history_path(tmp_path, "t1")
    pd.testing.assert_frame_equal(load_history(tmp_path, "t1"), kept)
    empty = next_history(samples.iloc[:0], kept, settled=np.datetime64("2023-12-31"))
    assert empty.empty and list(empty.columns) == HISTORY_COLUMNS
