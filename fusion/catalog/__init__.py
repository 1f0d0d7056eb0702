"""Catalogue stage: sources from data_catalog.yaml, STAC search, dedupe, provenance."""

from fusion.catalog.config import (
    DataCatalog,
    find_catalog_path,
    load_catalog,
    load_data_catalog,
    parse_catalog,
)
from fusion.catalog.dedupe import DedupeResult, dedupe_items
from fusion.catalog.provenance import ItemProvenance, clean_href, item_provenance
from fusion.catalog.search import Searcher, SearchRequest, SearchResult, search_items
from fusion.catalog.sources import (
    CollectionConfig,
    DemoSource,
    GeoparquetSource,
    SearchSettings,
    SentinelHubSource,
    Source,
    StacApiSource,
)

__all__ = [
    "CollectionConfig",
    "DataCatalog",
    "DedupeResult",
    "DemoSource",
    "GeoparquetSource",
    "ItemProvenance",
    "SearchRequest",
    "SearchResult",
    "SearchSettings",
    "Searcher",
    "SentinelHubSource",
    "Source",
    "StacApiSource",
    "clean_href",
    "dedupe_items",
    "find_catalog_path",
    "item_provenance",
    "load_catalog",
    "load_data_catalog",
    "parse_catalog",
    "search_items",
]
