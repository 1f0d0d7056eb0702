"""AOI stage: read and validate the area of interest, build its 10 m UTM tiles."""

from fusion.aoi.grid import DEFAULT_TILE_SIZE_M, Tile, aoi_grid
from fusion.aoi.read import read_aoi

__all__ = ["DEFAULT_TILE_SIZE_M", "Tile", "aoi_grid", "read_aoi"]
