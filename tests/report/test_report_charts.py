"""The alert series chart: the index panel and, under it, the monitor's score panel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fusion.report.charts import series_chart
from fusion.report.data import History

START = pd.Timestamp("2023-07-01")


def _series(*, scored: bool) -> pd.DataFrame:
    times = pd.date_range("2023-01-05", "2024-06-20", freq="16D")
    values = np.where(times < pd.Timestamp("2023-09-03"), 0.7, 0.3)
    frame = pd.DataFrame(
        {
            "time": times,
            "sensor": np.where(np.arange(len(times)) % 2, "landsat", "sentinel2"),
            "value": values,
            "sigma": 0.02,
            "alert_date": pd.Timestamp("2023-09-03"),
            "confirmed_date": pd.Timestamp("2023-10-01"),
        }
    )
    if scored:
        frame["score"] = np.where(times < START, np.nan, (values - 0.7) / 0.03)
    return frame


def _labels(ax: object) -> list[str]:
    return [str(line.get_label()) for line in ax.get_lines()]  # type: ignore[attr-defined]


def test_score_panel_has_the_scores_thresholds_and_dates() -> None:
    history = History(median=0.7, spread=0.02, count=10)
    fig = series_chart(
        _series(scored=True),
        history,
        monitor_start=START,
        fused=True,
        title="alert",
        thresholds=(-3.0, -2.0),
    )
    nbr, score = fig.axes
    assert nbr.get_ylabel() == "NBR" and score.get_ylabel() == "monitor score z"
    labels = _labels(score)
    assert "threshold -3" in labels and "agree threshold -2" in labels
    assert not any("indicative" in label for label in _labels(nbr))
    # The scores by sensor: the plotted points are the frame's, at the frame's dates.
    points = [line for line in score.get_lines() if line.get_marker() in ("o", "s")]
    plotted = np.sort(np.concatenate([np.asarray(line.get_ydata(), float) for line in points]))
    expected = _series(scored=True)["score"].to_numpy()
    np.testing.assert_allclose(
        plotted[np.isfinite(plotted)], np.sort(expected[~np.isnan(expected)])
    )
    # Monitor start, first alert and confirmation on both panels (3 vertical lines each).
    for ax in (nbr, score):
        verticals = [
            line for line in ax.get_lines() if np.unique(np.asarray(line.get_xdata())).size == 1
        ]
        assert len(verticals) == 3


def test_equal_thresholds_share_a_line_and_unscored_series_keep_one_panel() -> None:
    history = History(median=0.7, spread=0.02, count=10)
    fig = series_chart(
        _series(scored=True),
        history,
        monitor_start=START,
        fused=False,
        title="a",
        thresholds=(-3.0, -3.0),
    )
    assert "threshold -3\n(alert and agree)" in _labels(fig.axes[1])
    single = series_chart(
        _series(scored=False), history, monitor_start=START, fused=False, title="b"
    )
    assert len(single.axes) == 1
