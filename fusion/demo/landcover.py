"""Land-cover classes of the demo world's class map (``classes.tif``)."""

from __future__ import annotations

from typing import Final

FOREST: Final = 1
SWAMP_FOREST: Final = 2
WATER: Final = 3
ROAD: Final = 4
VILLAGE: Final = 5
FARMLAND: Final = 6
CLASS_NAMES: Final[dict[int, str]] = {
    0: "none",
    FOREST: "forest",
    SWAMP_FOREST: "swamp_forest",
    WATER: "water",
    ROAD: "road",
    VILLAGE: "village",
    FARMLAND: "farmland",
}
