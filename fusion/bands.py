"""Canonical band names shared by every stage.

Landsat OLI bands 2–7 and Sentinel-2 MSI B02, B03, B04, B8A, B11, B12, in this order.
B8A (not B08) is used for nir08 because its bandpass matches OLI band 5 (HLS v2.0).
"""

from __future__ import annotations

from typing import Final, Literal

CANONICAL_BANDS: Final[tuple[str, ...]] = ("blue", "green", "red", "nir08", "swir16", "swir22")

Sensor = Literal["landsat", "sentinel2"]
SENSORS: Final[tuple[Sensor, ...]] = ("landsat", "sentinel2")

# Native pixel sizes of the canonical bands, metres.
NATIVE_RESOLUTION: Final[dict[Sensor, dict[str, int]]] = {
    "landsat": dict.fromkeys(CANONICAL_BANDS, 30),
    "sentinel2": {"blue": 10, "green": 10, "red": 10, "nir08": 20, "swir16": 20, "swir22": 20},
}
