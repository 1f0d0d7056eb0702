"""The charted alerts' series across scheduled runs, so the report shows their whole history.

A scheduled run loads only the acquisitions after its tile's settled monitor state
(:mod:`fusion.pipeline.incremental`), so the series it samples at the largest alerts
(:mod:`fusion.pipeline.samples`) would start a month before its newest scene. Each run
therefore keeps, beside the tile's monitor state, the observations of the pixels it charted
up to the settled state's last acquisition (``<out>/state/<tile>.series.parquet``). The next
run samples the same pixels again (:class:`~fusion.pipeline.samples.Pinned`) and puts that
history in front of what it loaded. Observations after the settled state are recomputed by
every run, like the monitor's, so a late scene is charted once it arrives.

The file is small (a few charted pixels × their valid observations) and moves with the
monitor state when a run publishes (states last), so an interrupted run leaves both as the
previous run wrote them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from fusion.pipeline.incremental import STATE_DIR

SUFFIX: Final = ".series.parquet"
HISTORY_COLUMNS: Final = ["x", "y", "time", "sensor", "value", "sigma", "score"]
"""One row per valid observation of a charted pixel (the per-observation columns of
:data:`fusion.pipeline.samples.SAMPLE_COLUMNS`)."""


def history_path(root: Path, tile_id: str) -> Path:
    """The history file of ``tile_id`` under an output (or staging) folder."""
    return Path(root) / STATE_DIR / f"{tile_id}{SUFFIX}"


def load_history(root: Path, tile_id: str) -> pd.DataFrame | None:
    """The charted pixels' history from earlier runs, or None (none kept yet)."""
    path = history_path(root, tile_id)
    if not path.exists():
        return None
    return pd.read_parquet(path, columns=HISTORY_COLUMNS)


def save_history(history: pd.DataFrame, root: Path, tile_id: str) -> Path:
    """Write ``history`` into ``root``'s state folder (a staging folder: publishing moves it)."""
    path = history_path(root, tile_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    history[HISTORY_COLUMNS].to_parquet(path, index=False)
    return path


def pins(history: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The charted pixels (x, y) of ``history``, in the order they were first charted."""
    if history is None or history.empty:
        return np.empty(0), np.empty(0)
    first = history.drop_duplicates(["x", "y"])
    return first["x"].to_numpy(np.float64), first["y"].to_numpy(np.float64)


def with_history(samples: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """``samples`` with each charted pixel's earlier observations in front of its rows.

    Only history older than the alert's first sampled row is added (the run's own rows win);
    the alert's attributes (rank, area, confidence, dates) are copied onto the added rows.
    """
    if history is None or history.empty or samples.empty:
        return samples
    parts = []
    for _, rows in samples.groupby("alert_rank", sort=True):
        first = rows.iloc[0]
        mine = history[(history["x"] == first["x"]) & (history["y"] == first["y"])]
        earlier = mine[mine["time"] < rows["time"].min()]
        if not earlier.empty:
            fixed = {c: first[c] for c in samples.columns if c not in HISTORY_COLUMNS}
            parts.append(earlier.assign(**fixed)[list(samples.columns)])
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["alert_rank", "time"], kind="stable").reset_index(drop=True)


def next_history(
    samples: pd.DataFrame, history: pd.DataFrame | None, *, settled: np.datetime64
) -> pd.DataFrame:
    """The history the next run needs: every pixel charted now, with its earlier history and
    this run's observations up to ``settled`` (the settled state's last acquisition); later
    ones are replayed by the next run. Pixels no longer charted are dropped."""
    charted = samples.drop_duplicates(["x", "y"])[["x", "y"]]
    # An empty frame has object columns: compare times as datetimes.
    new = samples.loc[pd.to_datetime(samples["time"]) <= pd.Timestamp(settled), HISTORY_COLUMNS]
    parts = [new]
    if history is not None and not history.empty:
        parts.insert(0, history.merge(charted, on=["x", "y"], how="inner")[HISTORY_COLUMNS])
    parts = [p for p in parts if not p.empty]
    if not parts:
        return new.iloc[:0]
    out = pd.concat(parts, ignore_index=True)
    out = out.drop_duplicates(["x", "y", "time"], keep="last")
    return out.sort_values(["y", "x", "time"], kind="stable").reset_index(drop=True)
