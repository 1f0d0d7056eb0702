"""Ingest stage: load STAC items lazily onto a tile's grid as masked, harmonised reflectance.

Parse (``items``) → read (``load``) → harmonise (``scaling``, ``masks``, ``bandpass``) →
check (``checks``) and measure (``shift``). Every function returns lazy xarray/dask; only the
pipeline runner computes.
"""

from fusion.ingest.items import (
    DEFAULT_COLLECTION_BANDS,
    EARTH_SEARCH_V1,
    PLANETARY_COMPUTER,
    CollectionBands,
    ItemBands,
    guess_collection_bands,
    item_bands,
)

__all__ = [
    "DEFAULT_COLLECTION_BANDS",
    "EARTH_SEARCH_V1",
    "PLANETARY_COMPUTER",
    "CollectionBands",
    "ItemBands",
    "guess_collection_bands",
    "item_bands",
]
