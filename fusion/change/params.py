"""Parameters of the forest-disturbance monitor: one frozen dataclass, validated on creation.

:func:`fusion.detect` takes them as keyword arguments (``detect(index, ..., threshold=-4)``);
the persisted monitor state stores them, so an incremental update runs with the same ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fusion.errors import MonitorParamsError


@dataclass(frozen=True)
class MonitorParams:
    """Everything the monitor and the self-reference need besides the data."""

    threshold: float = -3.0
    """Score ``z`` at or below which a new observation is anomalous (a drop). ``z`` is in units
    of the combined history spread and observation sigma; -3 is a one-sided 0.13 % rate per
    observation under Gaussian noise, before confirmation."""

    confirm_threshold: float | None = None
    """Score at or below which a later observation agrees with a provisional alert; ``None``
    uses ``threshold``. A less negative value (e.g. -2) confirms fast-regrowing clearings whose
    drop is already fading in the confirming observations."""

    confirm_needed: int = 2
    """Agreeing observations among the next ``confirm_window`` valid ones that confirm an alert
    (GLAD: 2 of the next 4; Hansen et al. 2016, Environ. Res. Lett. 11:034008)."""

    confirm_window: int = 4
    """Valid observations after the first anomaly within which confirmation must happen; an
    alert that has not been confirmed when this many have passed expires."""

    expiry_days: float | None = 90.0
    """A provisional alert also expires this many days after its first anomaly (long cloudy
    spells); ``None`` disables the time limit and keeps only the observation-count window."""

    grow_m: float = 0.0
    """Spatial confirmation: a provisional pixel whose live anomaly scored at or below
    ``grow_threshold`` is also confirmed when a path of such pixels at most this long (metres,
    8-connected steps of one pixel) links it to a pixel that its own observations confirmed,
    and the two first anomalies lie within ``expiry_days``. A clearing is one event: under
    patchy cloud many of its pixels are seen cleared only once before regrowth, and the
    confirmed pixels beside them vouch for that look. 0 disables it (the GLAD/RADD per-pixel
    rule). Only pixels confirmed by their own looks seed it, so the result depends on the
    neighbourhood within this distance alone."""

    grow_threshold: float | None = None
    """Score at or below which a provisional pixel's anomaly may be confirmed spatially;
    ``None`` uses ``threshold``. At most ``threshold``: one look confirmed by its neighbours
    should be at least as strong as the first of two looks."""

    min_history: int = 5
    """Valid history observations (before ``monitor_start``) a pixel needs to be monitored."""

    spread_floor: float = 0.02
    """Lower bound of the per-pixel history spread, in index units: a few nearly identical
    history values must not make every later wiggle anomalous."""

    forest_threshold: float = 0.4
    """History-median index at or above which a pixel is forest at the start of monitoring,
    when no ``forest_mask`` is given. Suits NBR of closed forest; raise it (≈0.7) for NDVI."""

    forest_only: bool = True
    """Alert only on the forest baseline (the given ``forest_mask`` or the history-derived
    one); False monitors every pixel with enough history."""

    window_m: float = 1000.0
    """Side of the square neighbourhood of the self-reference, in metres (Zhang et al. 2021,
    RSE 261:112470: stable forest within about 1 km)."""

    cells_per_window: int = 5
    """The reference median is computed on cells of ``window_m / cells_per_window`` (200 m by
    default) and bilinearly interpolated to pixels; odd, so each window is centred on a cell."""

    reference_min_fraction: float = 0.02
    """Fraction of a window's pixels that must be valid stable forest on a date for its
    reference to exist; below it the date is treated as missing for the whole window."""

    reference_outlier: float | None = 0.15
    """A forest pixel joins the reference of a date only if its value lies within this many
    index units of its own history median: pixels being cleared leave the reference at once,
    so a clearing larger than half the window cannot drag the reference down with it. A
    scene-wide drop beyond it (thick haze) leaves no reference, so that date is skipped.
    ``None`` uses every forest pixel (plain Zhang et al. 2021)."""

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> MonitorParamsError:
            value = getattr(self, name)
            return MonitorParamsError(f"monitor parameter {name}={value!r} is invalid: {why}")

        for name in ("threshold", "spread_floor", "forest_threshold", "window_m", "grow_m"):
            if not math.isfinite(getattr(self, name)):
                raise bad(name, "it must be a finite number")
        if self.threshold >= 0:
            raise bad("threshold", "it must be negative (the monitor flags drops)")
        if self.confirm_threshold is not None and not (
            self.threshold <= self.confirm_threshold < 0
        ):
            raise bad("confirm_threshold", f"it must lie in [threshold={self.threshold}, 0)")
        if self.confirm_needed < 1:
            raise bad("confirm_needed", "it must be at least 1")
        if self.confirm_window < self.confirm_needed:
            raise bad("confirm_window", f"it must be >= confirm_needed={self.confirm_needed}")
        if self.expiry_days is not None and not self.expiry_days > 0:
            raise bad("expiry_days", "it must be positive or None")
        if self.grow_m < 0:
            raise bad("grow_m", "it must be 0 (off) or a positive distance in metres")
        if self.grow_threshold is not None and not (
            math.isfinite(self.grow_threshold) and self.grow_threshold <= self.threshold
        ):
            raise bad("grow_threshold", f"it must be at most threshold={self.threshold}")
        if self.min_history < 2:
            raise bad("min_history", "it must be at least 2 for a spread to exist")
        if self.spread_floor <= 0:
            raise bad("spread_floor", "it must be positive")
        if self.window_m <= 0:
            raise bad("window_m", "it must be positive")
        if self.cells_per_window < 1 or self.cells_per_window % 2 == 0:
            raise bad("cells_per_window", "it must be an odd positive integer")
        if self.reference_outlier is not None and not self.reference_outlier > 0:
            raise bad("reference_outlier", "it must be positive or None")
        if not 0 < self.reference_min_fraction <= 1:
            raise bad("reference_min_fraction", "it must lie in (0, 1]")

    @property
    def agree_threshold(self) -> float:
        """The score at or below which a later observation confirms."""
        return self.threshold if self.confirm_threshold is None else self.confirm_threshold

    @property
    def spatial_threshold(self) -> float:
        """The score at or below which a provisional pixel may be confirmed spatially."""
        return self.threshold if self.grow_threshold is None else self.grow_threshold

    @classmethod
    def from_kwargs(cls, params: Mapping[str, Any]) -> MonitorParams:
        """Build from keyword arguments, naming any unknown one and the valid names."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise MonitorParamsError(
                f"unknown monitor parameter(s) {', '.join(unknown)}: valid names are "
                f"{', '.join(sorted(names))}"
            )
        try:
            return cls(**params)
        except TypeError as err:  # a value of the wrong type reached a comparison
            raise MonitorParamsError(
                f"monitor parameters {dict(params)!r} are invalid: {err}"
            ) from err

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping, JSON-serialisable, for the persisted state."""
        return dataclasses.asdict(self)
