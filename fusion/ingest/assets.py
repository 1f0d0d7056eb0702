"""Check that every asset a run will read opens, before any pixel is computed.

A missing, truncated or unreachable asset otherwise surfaces deep inside a dask compute as a
bare GDAL message, minutes into a run. Opening each asset first (the header, plus the last
block) turns that into a precise error naming the item, or lets the caller leave the item out.

Why the last block: a truncated COG still opens, because its header and IFDs lie at the
start; GDAL's COG layout puts the full-resolution tiles last, in row-major order, so the
bottom-right block holds the file's last bytes and a cut shows there (one small range read).

GDAL settings for reads (:data:`GDAL_READ_ENV`) are set here, once: the probe opens under
them, and :func:`fusion.ingest.load.load_sensor` builds its graph under them so odc-stac
captures them into the tasks (they travel to dask workers with the graph).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Protocol

import pystac
import rasterio
from rasterio.windows import Window

from fusion.catalog.provenance import clean_href
from fusion.ingest.items import CollectionBands

GDAL_READ_ENV: Final[Mapping[str, str]] = {
    # odc-stac's cloud defaults (odc.loader._rio.GDAL_CLOUD_DEFAULTS), kept explicit because
    # any explicit setting replaces them: no directory listing on open, retry transient HTTP
    # errors (429, 500, 502, 503, 504) with GDAL's own exponential backoff.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "1",
}

# GDAL messages of errors worth another try (network hiccups, throttling); anything else
# (no such file, not a TIFF, a read past the end of a truncated file) fails the same again.
_TRANSIENT = re.compile(
    r"HTTP (response )?code:? ?(429|5\d\d)|timed? ?out|connection (reset|refused|closed)|"
    r"curl error|temporar|try again",
    re.IGNORECASE,
)
# A URL's query string (SAS tokens, signatures) inside an error message; punctuation that
# ends the message's sentence (``…tif?sig=x: 403``) is kept.
_QUERY = re.compile(
    r"(\b[a-z][a-z0-9+.-]*://[^\s?#'\"]+)[?#][^\s'\"]*?(?=[:,;.)]?(?:[\s'\"]|$))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing open is retried (transient errors only)."""

    retries: int = 3
    """Further attempts after the first."""
    delay_s: float = 1.0
    """Wait before the first retry; multiplied by ``backoff`` for each next one."""
    backoff: float = 2.0


DEFAULT_RETRY: Final = RetryPolicy()


@dataclass(frozen=True)
class AssetProblem:
    """An asset that could not be opened."""

    item_id: str
    asset: str
    """Asset key in the item (``red``, ``scl``…)."""
    href: str
    """Where it is, without query string or credentials."""
    error: str
    """Why, one line, signed URLs stripped."""

    def to_dict(self) -> dict[str, str]:
        """The manifest's ``skipped_assets`` record."""
        return {
            "item_id": self.item_id,
            "asset": self.asset,
            "href": self.href,
            "error": self.error,
        }


class AssetOpener(Protocol):
    """Opens one asset far enough to know it is readable; raises on failure."""

    def __call__(self, href: str) -> None: ...


def open_asset(href: str) -> None:
    """Open ``href`` with rasterio and read its last block of band 1 (see the module doc)."""
    with rasterio.Env(**GDAL_READ_ENV), rasterio.open(href) as src:
        block_h, block_w = src.block_shapes[0]
        row = (src.height - 1) // block_h * block_h
        col = (src.width - 1) // block_w * block_w
        src.read(1, window=Window(col, row, src.width - col, src.height - row))


def probe_assets(
    items: Iterable[pystac.Item],
    mapping_by_collection: Mapping[str, CollectionBands],
    *,
    patch_url: Callable[[str], str] | None = None,
    opener: AssetOpener | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    workers: int = 8,
) -> list[AssetProblem]:
    """Every asset of ``items`` that a load would read and that does not open, in item order.

    Assets are those of each item's collection mapping (the six bands and the quality
    layer); an asset key missing from an item is left to ``item_bands``' own error.
    ``patch_url`` signs each href right before opening, as the load does. ``opener``
    defaults to :func:`open_asset`. Opens run in ``workers`` threads: remote opens are
    latency-bound.
    """
    open_: AssetOpener = opener or open_asset
    targets = [
        (item, key, item.assets[key].get_absolute_href() or item.assets[key].href)
        for item in items
        if (mapping := mapping_by_collection.get(item.collection_id or "")) is not None
        for key in (*mapping.assets, mapping.mask_asset)
        if key in item.assets
    ]

    def check(target: tuple[pystac.Item, str, str]) -> AssetProblem | None:
        item, key, href = target
        error = _open_with_retries(patch_url(href) if patch_url else href, open_, retry)
        if error is None:
            return None
        return AssetProblem(item_id=item.id, asset=key, href=clean_href(href), error=error)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [p for p in pool.map(check, targets) if p is not None]


def _open_with_retries(href: str, opener: AssetOpener, retry: RetryPolicy) -> str | None:
    delay = retry.delay_s
    for attempt in range(retry.retries + 1):
        try:
            opener(href)
        except (OSError, rasterio.errors.RasterioError) as exc:
            message = describe(exc)
            if attempt == retry.retries or not _TRANSIENT.search(message):
                return message
        else:
            return None
        time.sleep(delay)
        delay *= retry.backoff
    return None  # pragma: no cover - the loop always returns


def describe(exc: BaseException) -> str:
    """One line from a rasterio/GDAL error, with the GDAL cause and no URL query strings."""
    message = str(exc) or type(exc).__name__
    if "previous exception" in message and exc.__cause__ is not None:
        message = str(exc.__cause__)  # rasterio 1.4 keeps GDAL's own words in the cause
    return scrub(" ".join(message.split()))


def scrub(text: str) -> str:
    """``text`` with the query strings (signatures, tokens) of every URL in it removed."""
    return _QUERY.sub(r"\1", text)
