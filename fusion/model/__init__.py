"""Deep fusion network: Landsat 30 m (+ Sentinel-2 10 m guide) → Landsat-like 10 m + sigma.

Public entry point: :func:`fusion.fuse` (= :func:`fusion.model.fuse.fuse`). Training:
:func:`fusion.model.train.train`. Names are imported lazily so that ``import fusion`` (and the
CLI) does not pay for importing torch (~1.5 s) until the network is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusion.model.fuse import fuse
    from fusion.model.guide import nearest_clear_guide
    from fusion.model.network import RECEPTIVE_FIELD_30M, FusionNet, NetConfig
    from fusion.model.series import fuse_series
    from fusion.model.train import train
    from fusion.model.weights import load_model, read_metadata

_LAZY = {
    "fuse": "fusion.model.fuse",
    "fuse_series": "fusion.model.series",
    "nearest_clear_guide": "fusion.model.guide",
    "FusionNet": "fusion.model.network",
    "NetConfig": "fusion.model.network",
    "RECEPTIVE_FIELD_30M": "fusion.model.network",
    "train": "fusion.model.train",
    "load_model": "fusion.model.weights",
    "read_metadata": "fusion.model.weights",
}

__all__ = [
    "RECEPTIVE_FIELD_30M",
    "FusionNet",
    "NetConfig",
    "fuse",
    "fuse_series",
    "load_model",
    "nearest_clear_guide",
    "read_metadata",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fusion.model' has no attribute {name!r}")
