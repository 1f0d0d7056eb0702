"""Which asset holds which band, and how its digital numbers become reflectance, per STAC item.

Parse step of the ingest stage (odc-stac's parse → plan → read → assemble): everything the
loader needs is read off the item here, once, into a frozen :class:`ItemBands`, so the
readers never look at STAC metadata again and a wrong catalogue is caught before any pixel
is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import pystac

from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.catalog.metadata import sensor_of
from fusion.errors import ItemMetadataError
from fusion.ingest.radiometry import (
    LANDSAT_C2L2_OFFSET,
    LANDSAT_C2L2_SCALE,
    S2_L2A_SCALE,
    baseline_of,
    landsat_scale_offset,
    raster_scale_offset,
    s2_offset_for_baseline,
    s2_scale_offset,
)

__all__ = [
    "DEFAULT_COLLECTION_BANDS",
    "EARTH_SEARCH_S2_L2A",
    "EARTH_SEARCH_V1",
    "LANDSAT_C2L2",
    "LEGACY",
    "PLANETARY_COMPUTER",
    "PLANETARY_COMPUTER_S2_L2A",
    "CollectionBands",
    "ItemBands",
    "guess_collection_bands",
    "item_bands",
    "s2_offset_for_baseline",
]


class _FrozenMappings:
    """Pickle support for frozen dataclasses holding read-only ``MappingProxyType`` fields
    (a mappingproxy cannot be pickled, and dask workers receive these objects)."""

    def __getstate__(self) -> dict[str, object]:
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in vars(self).items()}

    def __setstate__(self, state: dict[str, object]) -> None:
        for key, value in state.items():
            frozen = MappingProxyType(value) if isinstance(value, dict) else value
            object.__setattr__(self, key, frozen)


@dataclass(frozen=True)
class CollectionBands(_FrozenMappings):
    """Where one collection keeps the canonical bands, and its fallback scale/offset."""

    sensor: Sensor
    """``"landsat"`` or ``"sentinel2"``."""
    bands: Mapping[str, str]
    """Canonical band name (``fusion.bands.CANONICAL_BANDS``) → asset key in the item."""
    mask_asset: str
    """Asset key of the pixel-quality layer: QA_PIXEL for Landsat, SCL for Sentinel-2."""
    scale: float | None = None
    """Fallback scale when an asset carries no ``raster:bands`` scale."""
    offset: float | None = None
    """Fallback offset (Landsat C2 L2 −0.2). Sentinel-2 ignores it: the baseline decides."""

    def __post_init__(self) -> None:
        missing = [b for b in CANONICAL_BANDS if b not in self.bands]
        extra = [b for b in self.bands if b not in CANONICAL_BANDS]
        if missing or extra:
            raise ValueError(
                f"CollectionBands for {self.sensor}: bands must map exactly {CANONICAL_BANDS} "
                f"to asset keys (missing {missing}, unknown {extra})"
            )
        # Frozen all the way down: a shared default must not be edited in place by a caller.
        ordered = {b: self.bands[b] for b in CANONICAL_BANDS}
        object.__setattr__(self, "bands", MappingProxyType(ordered))

    @property
    def assets(self) -> tuple[str, ...]:
        """Asset keys of the reflectance bands, in canonical band order."""
        return tuple(self.bands[b] for b in CANONICAL_BANDS)


_SAME_NAMES: Final = {b: b for b in CANONICAL_BANDS}
_MSI_NAMES: Final = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir08": "B8A",
    "swir16": "B11",
    "swir22": "B12",
}

LANDSAT_C2L2: Final = CollectionBands(
    "landsat", _SAME_NAMES, "qa_pixel", LANDSAT_C2L2_SCALE, LANDSAT_C2L2_OFFSET
)
"""Landsat C2 L2 as Earth Search v1, Planetary Computer and USGS STAC publish it."""
EARTH_SEARCH_S2_L2A: Final = CollectionBands("sentinel2", _SAME_NAMES, "scl", S2_L2A_SCALE)
"""Earth Search v1 ``sentinel-2-l2a`` and ``sentinel-2-c1-l2a`` (common-name asset keys)."""
PLANETARY_COMPUTER_S2_L2A: Final = CollectionBands("sentinel2", _MSI_NAMES, "SCL")
"""Planetary Computer ``sentinel-2-l2a``: MSI band names, no scale/offset metadata at all."""

EARTH_SEARCH_V1: Final[Mapping[str, CollectionBands]] = MappingProxyType(
    {
        "landsat-c2-l2": LANDSAT_C2L2,
        "sentinel-2-l2a": EARTH_SEARCH_S2_L2A,
        "sentinel-2-c1-l2a": EARTH_SEARCH_S2_L2A,
    }
)
PLANETARY_COMPUTER: Final[Mapping[str, CollectionBands]] = MappingProxyType(
    {"landsat-c2-l2": LANDSAT_C2L2, "sentinel-2-l2a": PLANETARY_COMPUTER_S2_L2A}
)
# Older schemas still found in archives and test data: USGS's own STAC (landsat-c2l2-sr) and
# Earth Search v0 (sentinel-s2-l2a-cogs, MSI band names).
LEGACY: Final[Mapping[str, CollectionBands]] = MappingProxyType(
    {
        "landsat-c2l2-sr": LANDSAT_C2L2,
        "sentinel-s2-l2a-cogs": PLANETARY_COMPUTER_S2_L2A,
    }
)
DEFAULT_COLLECTION_BANDS: Final[Mapping[str, Mapping[str, CollectionBands]]] = MappingProxyType(
    {
        "earth-search": EARTH_SEARCH_V1,
        "planetary-computer": PLANETARY_COMPUTER,
        # The demo world writes the Earth Search v1 schema (CONTRACTS.md).
        "demo": EARTH_SEARCH_V1,
        "legacy": LEGACY,
    }
)
"""Built-in mappings: source name → collection id → :class:`CollectionBands`."""


@dataclass(frozen=True)
class ItemBands(_FrozenMappings):
    """What the loader needs to read one item and turn its DNs into reflectance."""

    item_id: str
    """The STAC item id; errors and range checks name it."""
    collection: str
    """The item's collection id (for error messages and provenance)."""
    sensor: Sensor
    """``"landsat"`` or ``"sentinel2"``."""
    platform: str
    """Lower-case platform, e.g. ``"landsat-8"``, ``"sentinel-2a"`` (bandpass needs it)."""
    assets: Mapping[str, str] = field(repr=False)
    """Canonical band → asset key."""
    scale: float
    """Reflectance = DN × scale + offset, for every reflectance band of the item."""
    offset: float
    """See ``scale``. Sentinel-2: −0.1 for baseline ≥ 04.00, else 0."""
    mask_asset: str
    """Asset key of QA_PIXEL (Landsat) or SCL (Sentinel-2); never scaled."""
    baseline: tuple[int, int] | None
    """Sentinel-2 processing baseline (major, minor); None for Landsat."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))


def item_bands(item: pystac.Item, mapping: CollectionBands) -> ItemBands:
    """Resolve asset keys and scale/offset of one item under a collection mapping.

    Raises :class:`ItemMetadataError` when an asset is missing or a Sentinel-2 item has no
    processing baseline; warns :class:`ScaleOffsetMismatchWarning` when catalogue metadata
    contradicts the baseline rule (the rule wins, DESIGN.md "Band and unit conventions").
    """
    collection = item.collection_id or "<no collection>"
    sensor = sensor_of(item)
    if sensor != mapping.sensor:
        raise ItemMetadataError(
            f"item {item.id!r} of collection {collection!r} is {sensor} but was mapped with "
            f"{mapping.sensor} band names; give this collection a {sensor} CollectionBands"
        )
    for band, key in [*mapping.bands.items(), ("mask", mapping.mask_asset)]:
        if key not in item.assets:
            raise ItemMetadataError(
                f"item {item.id!r}: asset {key!r} ({band}) is missing from collection "
                f"{collection!r} (assets: {', '.join(sorted(item.assets))}); map {band} to one "
                "of these keys in data_catalog.yaml or drop the item"
            )
    declared = [raster_scale_offset(item.assets[key]) for key in mapping.assets]
    if sensor == "landsat":
        scale, offset = landsat_scale_offset(
            item, collection, (mapping.scale, mapping.offset), declared
        )
        baseline = None
    else:
        baseline = baseline_of(item)
        scale, offset = s2_scale_offset(item, collection, baseline, declared)
    return ItemBands(
        item_id=item.id,
        collection=collection,
        sensor=sensor,
        platform=str(item.properties.get("platform", "")).lower(),
        assets=dict(mapping.bands),
        scale=scale,
        offset=offset,
        mask_asset=mapping.mask_asset,
        baseline=baseline,
    )


def guess_collection_bands(item: pystac.Item) -> CollectionBands:
    """The built-in mapping that fits an item's collection id and asset keys.

    For items whose source is unknown (tests, ad-hoc catalogues). Raises ItemMetadataError
    when no built-in mapping has all its assets in the item.
    """
    sensor = sensor_of(item)
    candidates = [
        cb
        for source in DEFAULT_COLLECTION_BANDS.values()
        for coll, cb in source.items()
        if cb.sensor == sensor and coll == item.collection_id
    ]
    candidates += [LANDSAT_C2L2, EARTH_SEARCH_S2_L2A, PLANETARY_COMPUTER_S2_L2A]
    for cb in candidates:
        if cb.sensor == sensor and all(k in item.assets for k in (*cb.assets, cb.mask_asset)):
            return cb
    raise ItemMetadataError(
        f"item {item.id!r} of collection {item.collection_id!r}: no built-in band mapping "
        f"fits its assets ({', '.join(sorted(item.assets))}); declare the asset keys of this "
        "collection in data_catalog.yaml"
    )
