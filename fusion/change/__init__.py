"""Forest-disturbance monitor: indices, self-reference (rNBR), confirmed alerts, state, polygons."""

from __future__ import annotations

from fusion.change.detect import detect
from fusion.change.index import nbr, nbr_sigma, ndvi, ndvi_sigma
from fusion.change.monitor import alerts
from fusion.change.params import MonitorParams
from fusion.change.state import start, update

__all__ = [
    "MonitorParams",
    "alerts",
    "detect",
    "nbr",
    "nbr_sigma",
    "ndvi",
    "ndvi_sigma",
    "start",
    "update",
]
