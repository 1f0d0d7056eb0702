"""Search a local stac-geoparquet file (and the demo world, which is indexed as one).

pyarrow reads only the row groups and rows of the wanted collections, dates, bounding boxes
and cloud cover (filters pushed down to the Parquet reader); shapely then keeps the items whose
footprint really intersects the AOI, and stac-geoparquet turns the rows back into STAC items.
(DuckDB's spatial extension would do this in SQL, but it is downloaded at run time and this
pipeline must run offline — CONTRACTS.md.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import shapely
import shapely.geometry

from fusion.catalog.search import Hits, SearchRequest, items_from_dicts
from fusion.catalog.sources import DemoSource
from fusion.errors import SearchError, SourceError

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox

_REQUIRED = ("id", "collection", "datetime", "geometry")


class GeoparquetSearcher:
    """Searches one stac-geoparquet file; opens nothing until :meth:`search`."""

    def __init__(self, path: Path, *, source_name: str) -> None:
        self.path = Path(path)
        self.source_name = source_name

    def search(self, request: SearchRequest) -> Hits:
        dataset = self._open()
        table = dataset.to_table(filter=self._pushdown(dataset.schema, request))
        aoi = shapely.geometry.shape(request.intersects)
        footprints = shapely.from_wkb(
            np.asarray(table.column("geometry").to_pylist(), dtype=object)
        )
        table = table.filter(pa.array(shapely.intersects(footprints, aoi), type=pa.bool_()))
        # Same order as a STAC API sorted by datetime, so the max_items cap drops the same items.
        table = table.sort_by([("datetime", "descending"), ("id", "ascending")])
        matched = table.num_rows
        table = table.slice(0, request.settings.max_items)
        from stac_geoparquet.arrow import stac_table_to_items

        items = items_from_dicts(list(stac_table_to_items(table)))
        return Hits(items=items, matched=matched, truncated=matched > len(items))

    def _open(self) -> ds.Dataset:
        if not self.path.is_file():
            raise SearchError(
                f"stac-geoparquet {self.path} (source {self.source_name!r}): file not found; "
                "fix `path` in data_catalog.yaml"
            )
        try:
            dataset = ds.dataset(self.path, format="parquet")
        except (pa.ArrowInvalid, OSError) as err:
            raise SearchError(
                f"stac-geoparquet {self.path}: not a readable Parquet file ({err}); write it "
                "with stac_geoparquet.arrow.to_parquet"
            ) from err
        names = set(dataset.schema.names)
        missing = [c for c in _REQUIRED if c not in names]
        if missing or not pa.types.is_timestamp(dataset.schema.field("datetime").type):
            raise SearchError(
                f"stac-geoparquet {self.path}: not a stac-geoparquet table (missing "
                f"{', '.join(missing) or 'a timestamp datetime column'}); write it with "
                "stac_geoparquet.arrow.to_parquet"
            )
        return dataset

    @staticmethod
    def _pushdown(schema: pa.Schema, request: SearchRequest) -> ds.Expression:
        when = schema.field("datetime").type
        expr = (
            pc.field("collection").isin(list(request.collections))
            & (pc.field("datetime") >= pa.scalar(request.start, type=when))
            & (pc.field("datetime") <= pa.scalar(request.end, type=when))
        )
        x0, y0, x1, y1 = shapely.geometry.shape(request.intersects).bounds
        bbox = schema.field("bbox").type if "bbox" in schema.names else None
        if isinstance(bbox, pa.StructType) and {"xmin", "ymin", "xmax", "ymax"} <= {
            f.name for f in bbox
        }:
            xmin, xmax = pc.field("bbox", "xmin"), pc.field("bbox", "xmax")
            ymin, ymax = pc.field("bbox", "ymin"), pc.field("bbox", "ymax")
            overlaps_x = ((xmin <= x1) & (xmax >= x0)) | (xmin > xmax)  # xmin > xmax: antimeridian
            expr = expr & overlaps_x & (ymin <= y1) & (ymax >= y0)
        if request.max_cloud is not None and "eo:cloud_cover" in schema.names:
            cloud = pc.field("eo:cloud_cover")
            # Unknown cloud cover is kept, as for STAC APIs (search.cloud_ok).
            expr = expr & ((cloud < request.max_cloud) | cloud.is_null())
        return expr


def demo_searcher(
    source: DemoSource, *, geobox: GeoBox | None, start: date, end: date
) -> GeoparquetSearcher:
    """Make (or reuse) the demo world over the AOI grid and search its stac-geoparquet index."""
    if geobox is None:
        raise SourceError(
            f"source {source.name!r} (demo) simulates scenes over the AOI grid, but no grid was "
            "given; pass demo_geobox=tile.geobox to search_items (the pipeline does)"
        )
    from fusion.demo import WORLD_PERIOD, ensure_demo_catalog

    if WORLD_PERIOD[0] <= start and end <= WORLD_PERIOD[1]:
        start, end = WORLD_PERIOD  # one world for every window inside it; the search filters
    catalog = ensure_demo_catalog(
        geobox, start=start, end=end, seed=source.seed, cache_dir=source.cache_dir
    )
    return GeoparquetSearcher(Path(catalog.items_parquet), source_name=source.name)
