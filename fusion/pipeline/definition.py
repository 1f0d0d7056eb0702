"""Monitoring pipeline definitions (``pipelines/*.yaml``): what a scheduled run does.

pydantic, because users write these files. Relative paths are relative to the file, so a
definition works from any working directory (cron, systemd, Airflow). Settings left out take
:class:`~fusion.pipeline.config.RunConfig`'s defaults; ``monitor`` is merged over the run's
default monitor parameters, so a definition names only the thresholds it changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from fusion.change.params import MonitorParams
from fusion.errors import ConfigError, MonitorParamsError
from fusion.pipeline.config import OnMissing, RunConfig
from fusion.pipeline.series import Series


class Window(BaseModel):
    """Either a fixed period or the last N days up to the day of the run."""

    model_config = ConfigDict(extra="forbid")

    start: dt.date | None = None
    end: dt.date | None = None
    last_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        if self.last_days is not None and (self.start or self.end):
            raise ValueError("give either start/end or last_days, not both")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self

    def period(self, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
        """(start, end) for a run on ``today``; None where the source default applies."""
        if self.last_days is not None:
            return today - dt.timedelta(days=self.last_days), today
        return self.start, self.end


class PipelineDefinition(BaseModel):
    """One monitoring pipeline."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Recorded in the manifest (``parameters.extra.pipeline``)."""
    aoi: Path
    """AOI file (GeoJSON, GeoPackage, Shapefile), relative to this file."""
    source: str = "demo"
    """Source name from the data catalogue (``fusion sources`` lists them)."""
    catalog: Path | None = None
    """data_catalog.yaml defining ``source``, relative to this file; None: the default lookup."""
    forest_mask: Path | None = None
    """Forest mask raster (non-zero = forest), relative to this file; None: the forest the
    monitor derives from the history."""
    window: Window = Field(default_factory=Window)
    series: Series | None = None
    """Observations the monitor sees: ``fused`` (the default), ``landsat`` or ``sentinel2``."""
    monitor: dict[str, Any] = Field(default_factory=dict)
    """Monitor parameters (fields of ``MonitorParams``: threshold, confirm_needed,
    confirm_window, min_history …) over the run's defaults."""
    mmu_ha: float | None = Field(default=None, gt=0)
    """Minimum mapping unit of alert polygons, hectares (default 0.05: 5 pixels at 10 m)."""
    edge_share: float | None = Field(default=None, ge=0, lt=1)
    """Clear alert pixels whose drop is below this share of their patch's typical drop
    (default 0.5, the half-maximum edge; 0: off)."""
    max_cloud: float | None = Field(default=None, ge=0, le=100)
    mask_buffer_m: float = Field(default=RunConfig.mask_buffer_m, ge=0)
    late_days: float = Field(default=RunConfig.late_days, ge=0)
    """How late (days after newer scenes) a scene may reach the catalogue and still be
    monitored; each run replays this many days."""
    out: Path = Path("fusion-output")
    on_missing: OnMissing = "fail"
    """An unreadable asset: ``fail`` the run, or ``skip`` its item (the run is partial)."""

    @field_validator("monitor")
    @classmethod
    def _known_monitor_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:  # validate names and values now, not hours later inside a scheduled run
            MonitorParams.from_kwargs({**_default_monitor(), **value})
        except MonitorParamsError as exc:
            raise ValueError(str(exc)) from None
        return value

    def to_run_config(self, *, today: dt.date | None = None, **overrides: Any) -> RunConfig:
        """The run this definition asks for; non-None ``overrides`` (CLI options) win."""
        start, end = self.window.period(today or dt.date.today())
        values: dict[str, Any] = {
            "aoi": self.aoi,
            "out": self.out,
            "source": self.source,
            "start": start,
            "end": end,
            "max_cloud": self.max_cloud,
            "mask_buffer_m": self.mask_buffer_m,
            "late_days": self.late_days,
            "on_missing": self.on_missing,
            "catalog": self.catalog,
            "forest_mask": self.forest_mask,
            "series": self.series,
            "mmu_ha": self.mmu_ha,
            "edge_share": self.edge_share,
            "monitor": {**_default_monitor(), **self.monitor},
            "extra": {"pipeline": self.name},
        }
        values = {k: v for k, v in values.items() if v is not None}  # None: RunConfig default
        values.update({k: v for k, v in overrides.items() if v is not None})
        return RunConfig(**values)


def load_pipeline(path: str | Path) -> PipelineDefinition:
    """Read and validate a pipeline YAML; paths in it become relative to the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"pipeline {path}: not found; check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"pipeline {path}: invalid YAML ({_one_line(exc)}); fix the syntax"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"pipeline {path}: expected a mapping of settings (name, aoi, …)")
    try:
        definition = PipelineDefinition.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(
            f"pipeline {path}: {where}: {_message(errors[0])}{more}; "
            "see pipelines/congo.yaml for an example"
        ) from exc
    base = path.resolve().parent
    return definition.model_copy(
        update={
            "aoi": (base / definition.aoi).resolve(),
            "out": (base / definition.out).resolve(),
            "catalog": (base / definition.catalog).resolve() if definition.catalog else None,
            "forest_mask": (
                (base / definition.forest_mask).resolve() if definition.forest_mask else None
            ),
        }
    )


def _default_monitor() -> dict[str, Any]:
    """RunConfig's default monitor parameters (the ones tuned on the demo benchmark)."""
    (factory,) = (f.default_factory for f in dataclasses.fields(RunConfig) if f.name == "monitor")
    return dict(factory()) if callable(factory) else {}


def _message(error: ErrorDetails) -> str:
    """pydantic's message, with the valid names where a setting is unknown."""
    if error["type"] == "extra_forbidden":
        model = Window if error["loc"][:1] == ("window",) else PipelineDefinition
        return f"unknown setting; valid here: {', '.join(model.model_fields)}"
    return error["msg"].removeprefix("Value error, ")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
