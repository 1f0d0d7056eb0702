"""What one run is asked to do (frozen: the runner never mutates it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from fusion.aoi.grid import DEFAULT_TILE_SIZE_M
from fusion.demo.catalog import WORLD_PERIOD
from fusion.errors import ConfigError
from fusion.pipeline.series import SENSORS_OF, Series

OnMissing = Literal["fail", "skip"]
"""What a run does with an asset that cannot be read: fail, or leave its item out."""

# The demo world's default period: 18 months, the first six a history period for the monitor.
DEMO_START, DEMO_END = WORLD_PERIOD
# Other sources default to the last 90 days, the window of a scheduled monitoring run.
DEFAULT_WINDOW_DAYS = 90

#: The monitor's parameters under Congo Basin cloud (≈ 76 % cover): a pixel sees about two clear
#: dates in six months, and a clearing regrows within 1–4 months, so it is seen cleared about
#: twice. Each choice was measured on the detection benchmark's tuning worlds
#: (benchmarks/detection.py); ``MonitorParams`` keeps the generic GLAD-like defaults.
CONGO_MONITOR: Mapping[str, Any] = MappingProxyType(
    {
        # Two history values suffice for the self-referenced index (rNBR of stable forest is
        # about 0, and the spread floor bounds the spread): with 3, half the clearing pixels
        # of the cloudiest world were never monitored.
        "min_history": 2,
        # The first anomaly and one agreeing observation confirm (two cleared looks, as the
        # benchmark's oracle counts them): requiring two agreeing ones confirmed a tenth of
        # the clearings that had two anomalous observations, since the third came after
        # regrowth. The strict first-look threshold keeps false alarms rare with only two
        # looks; the agreeing look only has to be clearly low (z <= -3, as GLAD confirms at a
        # lower bar than it flags): a clearing's second look is often through haze or partly
        # regrown. Fused F1 on the tuning worlds (edges trimmed) 0.840 -> 0.849.
        "confirm_needed": 1,
        "threshold": -5.0,
        "confirm_threshold": -3.0,
        "expiry_days": 120,
        # Closed humid forest has NBR ≈ 0.65–0.75; farmland and fallow reach 0.55, and at 0.4
        # they made most of the false alarms away from clearing edges.
        "forest_threshold": 0.6,
        # Spatial confirmation: under patchy cloud most clearings have pixels seen cleared only
        # once before regrowth. A single anomalous look (z <= threshold) within 80 m (through
        # such looks) of pixels that confirmed themselves is confirmed with them: fused F1 on
        # the tuning worlds 0.716 -> 0.823 (grow_threshold -6). Growing every z <= -5 look
        # then gave 0.830 at 12 % commission, the extra area clearing edges; since alert
        # patches are trimmed to their half-maximum edge (RunConfig.edge_share) it gives
        # 0.863 at 4 % (with confirm_threshold -3; -6 gave 0.849).
        "grow_m": 80.0,
    }
)


@dataclass(frozen=True)
class RunConfig:
    """Parameters of one ``fusion run``."""

    aoi: Path
    """AOI file (GeoJSON, GeoPackage, Shapefile)."""
    out: Path = Path("fusion-output")
    """Output folder; earlier outputs in it are replaced only when the new run succeeds."""
    source: str = "demo"
    """Source name from data_catalog.yaml."""
    start: dt.date | None = None
    """First acquisition date (inclusive); None: the source's default period."""
    end: dt.date | None = None
    """Last acquisition date (inclusive); None: the source's default period."""
    catalog: Path | None = None
    """data_catalog.yaml to use; None: the default lookup order."""
    max_cloud: float | None = None
    """Scene-level cloud-cover prefilter, percent; None: the catalogue's ``search.max_cloud``."""
    mask_buffer_m: float = 10.0
    """Cloud and shadow masks are dilated by this distance: Sentinel-2's SCL masks, and
    Landsat's shadow flags (its clouds already carry CFMask's dilated-cloud margin). On the
    demo benchmark (benchmarks/detection.py) 10 m keeps the unflagged haze at cloud edges out
    as well as 30 m did (without a buffer, false alarms in intact forest rose from 0.1 to
    4.6 ha on one world) and keeps 38 % more of the clearing area that two clear observations
    see."""
    shift_max_days: int = 3
    """Landsat/Sentinel-2 pairs at most this many days apart are used to measure misregistration."""
    shift_threshold_m: float = 10.0
    """Pairs shifted more than this are flagged in the manifest."""
    tile_size_m: int = DEFAULT_TILE_SIZE_M
    """Edge of the AOI's processing tiles, metres (a multiple of 30). A run holds one tile's
    results at a time (composite, alert layers, monitor state and, for ``fused``, 12 values
    per pixel and Landsat date), so this bounds its memory; tile ids, and the per-tile state
    kept between runs, depend on it: keep it fixed for a monitored AOI."""
    chunk_px: int = 512
    """Dask chunk edge in 10 m pixels (a multiple of 3 is rounded to keep 30 m chunks aligned)."""
    series: Series = "fused"
    """Which observations the monitor sees (the sensor ablation): ``fused`` (Landsat downscaled
    by the network + Sentinel-2), ``landsat`` (alone, 30 m replicated) or ``sentinel2``."""
    monitor_start: dt.date | None = None
    """First monitored date; before it is the history. None: a third of the period in, at most
    a year (the demo world: 2023-07-01)."""
    monitor: dict[str, Any] = field(default_factory=lambda: dict(CONGO_MONITOR))
    """Monitor parameters passed to :func:`fusion.detect` (fields of ``MonitorParams``);
    :data:`CONGO_MONITOR` by default."""
    mmu_ha: float = 0.05
    """Minimum mapping unit of alerts, hectares (5 pixels at 10 m)."""
    edge_share: float = 0.5
    """Alert pixels whose drop is below this share of their patch's typical (75th-percentile)
    drop are cleared before the MMU (:func:`fusion.change.polygons.trim_edges`): the
    half-maximum boundary, which keeps the partial drops that blur, 20 m SWIR and
    misregistration spread outside a clearing from confirming along its edges. 0: off. 0.5
    was chosen on the detection benchmark's tuning seeds (see its results)."""
    guide_window_days: float = 30.0
    """Sentinel-2 acquisitions at most this far from a Landsat date may guide its fusion."""
    guide_lookahead_days: float | None = 0.0
    """Sentinel-2 acquired after a Landsat date's UTC day guides it only up to this many days
    later. 0: causal fusion, so a scheduled (incremental) run fuses every date exactly as a
    reprocessing of the whole period does, and no alert is shaped by later imagery; None: the
    whole window on both sides (incremental runs then differ near their ends)."""
    late_days: float = 30.0
    """How late a scene may reach the catalogue and still be monitored: each run replays the
    monitor over the acquisitions this many days older than its newest one (see
    :mod:`fusion.pipeline.incremental`). Landsat Level-2 scenes commonly arrive days to weeks
    after acquisition; 0 turns replays off."""
    forest_mask: Path | None = None
    """Forest mask raster (any CRS; non-zero = forest at the start of monitoring) instead of
    the forest baseline derived from the history. It selects the monitored pixels and the
    self-reference pixels."""
    fresh: bool = False
    """Discard the monitor states in the output folder and start from this run's period."""
    on_missing: OnMissing = "fail"
    """An asset that cannot be opened (missing, corrupt, unreachable after retries): ``fail``
    the run naming it, or ``skip`` its item, record it in the manifest and mark the run
    partial."""
    scheduler: str | None = None
    """Dask distributed scheduler address (``tcp://host:8786``), ``local`` (a LocalCluster of
    worker processes) or ``threads`` (dask's threaded scheduler, no cluster); None:
    ``DASK_SCHEDULER_ADDRESS`` if set, else ``FUSION_SCHEDULER``, else a LocalCluster in this
    process sized to the machine (see :mod:`fusion.pipeline.cluster`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form parameters recorded in the manifest."""

    def period(self, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The resolved (start, end) of this run."""
        if self.source == "demo" and self.start is None and self.end is None:
            return DEMO_START, DEMO_END
        end = self.end or (today or dt.date.today())
        start = self.start or end - dt.timedelta(days=DEFAULT_WINDOW_DAYS)
        if start > end:
            raise ConfigError(
                f"dates: --start {start} is after --end {end}; swap them or fix the range"
            )
        return start, end

    @property
    def sensors(self) -> tuple[Literal["landsat", "sentinel2"], ...]:
        """Sensors to search and load for this run's series."""
        return SENSORS_OF[self.series]

    def resolved_monitor_start(self) -> dt.date:
        """``monitor_start``, or the default a third of the period in (at most a year)."""
        if self.monitor_start is not None:
            return self.monitor_start
        start, end = self.period()
        return start + dt.timedelta(days=min(365, (end - start).days // 3))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters for the manifest."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path | dt.date):
                out[key] = str(value)
        out["sensors"] = list(self.sensors)
        out["monitor_start"] = str(self.resolved_monitor_start())
        return out
