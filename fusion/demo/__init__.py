"""The offline demo world: a seeded Congo Basin scene simulator and its local STAC catalogue.

``ensure_demo_catalog`` writes (once, then reuses) Landsat C2 L2 and Sentinel-2 L2A COGs with
STAC items in the Earth Search v1 schema, indexed in a stac-geoparquet file, for any AOI grid
and period; ``demo_truth`` gives the true 10 m reflectance on any date. The pipeline's default
source ``demo`` reads this catalogue exactly as it reads real data.
"""

from fusion.demo.catalog import (
    WORLD_PERIOD,
    DemoCatalog,
    default_cache_dir,
    demo_truth,
    ensure_demo_catalog,
)
from fusion.demo.config import SIMULATOR_VERSION, DemoConfig, conditions

DEMO_CONDITIONS = conditions()
"""The stated conditions of the default demo world (revisits, clouds, clearings…)."""

__all__ = [
    "DEMO_CONDITIONS",
    "SIMULATOR_VERSION",
    "WORLD_PERIOD",
    "DemoCatalog",
    "DemoConfig",
    "default_cache_dir",
    "demo_truth",
    "ensure_demo_catalog",
]
