"""fusion: Landsat + Sentinel-2 fusion to a 10 m record and forest-disturbance alerts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fusion.bands import CANONICAL_BANDS
from fusion.errors import FusionError

if TYPE_CHECKING:
    from fusion.change.detect import detect
    from fusion.model.fuse import fuse

try:
    __version__ = version("fusion")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["CANONICAL_BANDS", "FusionError", "__version__", "detect", "fuse"]


def __getattr__(name: str) -> Any:
    # fusion.fuse is imported on first use: it pulls in torch (~1.5 s), which the CLI and the
    # other stages should not pay for on every `import fusion`.
    if name == "fuse":
        from fusion.model.fuse import fuse

        return fuse
    if name == "detect":
        # Same lazy style as fuse: `import fusion` stays light for the CLI.
        from fusion.change.detect import detect

        return detect
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")
