"""Monitoring pipeline definitions (``pipelines/*.yaml``): what a scheduled run does.

pydantic, because users write these files. Relative paths are relative to the file, so a
definition works from any working directory (cron, systemd, Airflow).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fusion.errors import ConfigError
from fusion.pipeline.config import RunConfig


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
    aoi: Path
    source: str = "demo"
    window: Window = Field(default_factory=Window)
    max_cloud: float | None = Field(default=None, ge=0, le=100)
    mask_buffer_m: float = Field(default=30.0, ge=0)
    out: Path = Path("fusion-output")

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
            "extra": {"pipeline": self.name},
        }
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
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"pipeline {path}: {where}: {first['msg']}; see pipelines/congo.yaml for an example"
        ) from exc
    base = path.resolve().parent
    return definition.model_copy(
        update={"aoi": (base / definition.aoi).resolve(), "out": (base / definition.out).resolve()}
    )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
