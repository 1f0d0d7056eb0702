"""Export stage: COGs that open cleanly in QGIS, the run manifest; all written atomically."""

from fusion.export.atomic import atomic_path, write_json_atomic
from fusion.export.cog import write_cog

__all__ = ["atomic_path", "write_cog", "write_json_atomic"]
