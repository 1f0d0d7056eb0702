"""The pipeline runner: the one place that computes. Stages stay lazy."""

from fusion.pipeline.config import RunConfig
from fusion.pipeline.runner import RunResult, run

__all__ = ["RunConfig", "RunResult", "run"]
