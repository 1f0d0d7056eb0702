"""fusion: Landsat + Sentinel-2 fusion to a 10 m record and forest-disturbance alerts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fusion.bands import CANONICAL_BANDS
from fusion.errors import FusionError

try:
    __version__ = version("fusion")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["CANONICAL_BANDS", "FusionError", "__version__"]
