"""Unreadable assets: fail the run naming the item, or leave the item out and say so.

Checked per tile before its compute (:func:`fusion.ingest.assets.probe_assets`). With
``on_missing="fail"`` (the default) the first problem is an :class:`AssetReadError`; with
``"skip"`` the items with an unreadable asset are dropped from the tile's search result,
each is warned about (:class:`SkippedAssetWarning`) and recorded for the manifest's
``skipped_assets``, which makes the run ``partial``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fusion.catalog.provenance import clean_href
from fusion.catalog.search import SearchResult
from fusion.errors import AssetReadError, SkippedAssetWarning
from fusion.ingest import assets as ingest_assets
from fusion.pipeline.config import OnMissing


def screen_assets(
    result: SearchResult, *, on_missing: OnMissing, tile_id: str
) -> tuple[SearchResult, list[dict[str, Any]]]:
    """``result`` without the items whose assets do not open, and the skipped-asset records.

    Raises :class:`AssetReadError` on the first unreadable asset when ``on_missing`` is
    ``"fail"``. Retries follow :data:`fusion.ingest.assets.DEFAULT_RETRY` (looked up at call
    time, so tests and embedding applications can shorten it).
    """
    problems = ingest_assets.probe_assets(
        result.all_items(),
        result.bands,
        patch_url=result.patch_url,
        retry=ingest_assets.DEFAULT_RETRY,
    )
    if not problems:
        return result, []
    if on_missing == "fail":
        first = problems[0]
        more = f" ({len(problems) - 1} more unreadable assets)" if len(problems) > 1 else ""
        raise AssetReadError(
            f"tile {tile_id}: item {first.item_id}: asset {first.asset!r} at {first.href} "
            f"cannot be read ({first.error}){more}; restore the file or its access, or rerun "
            "with --on-missing skip to leave such items out (the run is then marked partial)"
        )
    bad = {p.item_id for p in problems}
    for problem in problems:
        warnings.warn(
            f"tile {tile_id}: item {problem.item_id} left out: asset {problem.asset!r} at "
            f"{problem.href} cannot be read ({problem.error}); the run is partial",
            SkippedAssetWarning,
            stacklevel=2,
        )
    kept = dataclasses.replace(
        result,
        items={
            sensor: [i for i in items if i.id not in bad] for sensor, items in result.items.items()
        },
        provenance=[p for p in result.provenance if p.item_id not in bad],
    )
    return kept, [{**p.to_dict(), "tile": tile_id} for p in problems]


def read_failure(exc: BaseException, result: SearchResult, *, tile_id: str) -> AssetReadError:
    """The error for a read that failed during the compute, after the assets were checked.

    GDAL names only the file's base name; the item and href are given when exactly one
    asset of the tile has that name.
    """
    cause = ingest_assets.describe(exc)
    named = [
        (item.id, key, clean_href(asset.href))
        for item in result.all_items()
        for key, asset in item.assets.items()
        if (name := Path(urlsplit(asset.href).path).name) and name in cause
    ]
    where = ""
    if len(named) == 1:
        item_id, key, href = named[0]
        where = f"item {item_id}: asset {key!r} at {href}: "
    return AssetReadError(
        f"tile {tile_id}: {where}reading failed during the compute ({cause}); the asset changed "
        "or broke after it was checked: restore it and rerun (finished tiles are kept), or "
        "rerun with --on-missing skip to leave it out if it stays unreadable"
    )
