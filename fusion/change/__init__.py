"""Forest-disturbance monitor: indices, self-reference (rNBR), confirmed alerts, state, polygons."""

from __future__ import annotations

from fusion.change.detect import detect
from fusion.change.index import nbr, nbr_sigma, ndvi, ndvi_sigma
from fusion.change.monitor import alerts, scores
from fusion.change.params import MonitorParams
from fusion.change.state import monitored_index, start, update

__all__ = [
    "MonitorParams",
    "alerts",
    "detect",
    "monitored_index",
    "nbr",
    "nbr_sigma",
    "ndvi",
    "ndvi_sigma",
    "scores",
    "start",
    "update",
]
