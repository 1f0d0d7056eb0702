"""STAC API search with pystac-client: retries, timeouts, cloud prefilter, pagination, caps.

Public STAC APIs rate-limit (429), fail transiently (5xx), time out and cap results
(DESIGN.md, peer complaint 5). Every request — landing page, each result page, the count —
goes through one urllib3 :class:`~urllib3.util.Retry` that retries 429/500/502/503/504,
connection errors and read timeouts with exponential backoff, honours ``Retry-After``, and
covers POST (pystac-client searches with POST; urllib3 retries only idempotent methods unless
told). When retries are exhausted the error names the endpoint and the last status.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Final

from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from fusion.catalog.search import Hits, SearchRequest, cloud_ok, items_from_dicts
from fusion.catalog.sources import SearchSettings, StacApiSource
from fusion.errors import SearchError, SourceError

# requests/urllib3 bury the root cause in "...(Caused by NewConnectionError('<...>: Failed to
# establish a new connection: [Errno 111] Connection refused'))"; the errno part is what to show.
_CAUSE: Final = re.compile(r"(\[Errno -?\d+\][^'\")]*)")
RETRY_STATUSES: Final = (429, 500, 502, 503, 504)
# urllib3's default allowed_methods leaves out POST (not idempotent); a STAC search is a read.
RETRY_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "POST"})


def retry_policy(settings: SearchSettings) -> Retry:
    """The urllib3 retry policy of every request to a STAC API."""
    return Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=settings.backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=RETRY_METHODS,
        respect_retry_after_header=True,
        # Hand the last error response to pystac-client instead of raising urllib3's
        # MaxRetryError, so the message can give its HTTP status.
        raise_on_status=False,
    )


class StacApiSearcher:
    """Searches one STAC API; the client (and its landing-page request) is made on first use."""

    def __init__(self, source: StacApiSource) -> None:
        self.source = source
        self.settings = source.search_settings
        self._client: Client | None = None

    @property
    def search_url(self) -> str:
        return f"{self.source.url}/search"

    def client(self) -> Client:
        if self._client is None:
            timeout = self.settings.timeout_s
            io = StacApiIO(max_retries=retry_policy(self.settings), timeout=timeout)
            try:
                # Client.open passes its own `timeout` on to stac_io.update(), which would
                # reset the one given to StacApiIO to None (pystac-client 0.9): give both.
                self._client = Client.open(self.source.url, stac_io=io, timeout=timeout)
            except APIError as err:
                raise self._error(err, self.source.url) from None
            except Exception as err:  # pystac-client raises plain errors for non-STAC answers
                raise SourceError(
                    f"source {self.source.name!r}: {self.source.url} did not answer as a STAC API "
                    f"({type(err).__name__}: {err}); check `url` in data_catalog.yaml"
                ) from err
            if not self._client.conforms_to(ConformanceClasses.ITEM_SEARCH):
                raise SourceError(
                    f"source {self.source.name!r}: {self.source.url} does not offer STAC item "
                    "search; point `url` at the API root (the one with a /search endpoint)"
                )
        return self._client

    def search(self, request: SearchRequest) -> Hits:
        client = self.client()
        kwargs: dict[str, Any] = {
            "collections": list(request.collections),
            "intersects": dict(request.intersects),
            "datetime": request.datetime_range,
            "limit": min(request.settings.page_size, request.settings.max_items),
            "max_items": request.settings.max_items,
        }
        kwargs.update(self._cloud_filter(client, request.max_cloud))
        try:
            search = client.search(**kwargs)
            dicts = list(search.items_as_dicts())
            matched = (
                self._matched(search) if len(dicts) >= request.settings.max_items else len(dicts)
            )
        except APIError as err:
            raise self._error(err, self.search_url) from None
        truncated = matched is None or matched > len(dicts)
        # A no-op where the API applied the filter; the only filter where it cannot.
        dicts = [d for d in dicts if cloud_ok(d.get("properties", {}), request.max_cloud)]
        return Hits(items=items_from_dicts(dicts), matched=matched, truncated=truncated)

    def _cloud_filter(self, client: Client, max_cloud: float | None) -> dict[str, Any]:
        """Server-side ``eo:cloud_cover < max_cloud``: CQL2 filter, else query, else none."""
        if max_cloud is None:
            return {}
        mode = self.source.cloud_filter
        if mode == "auto":
            if client.conforms_to(ConformanceClasses.FILTER):
                mode = "cql2"
            elif client.conforms_to(ConformanceClasses.QUERY):
                mode = "query"
            else:
                mode = "client"
        if mode == "cql2":
            cql2 = {"op": "<", "args": [{"property": "eo:cloud_cover"}, max_cloud]}
            return {"filter": cql2, "filter_lang": "cql2-json"}
        if mode == "query":
            return {"query": {"eo:cloud_cover": {"lt": max_cloud}}}
        return {}  # client side only (cloud_ok)

    @staticmethod
    def _matched(search: Any) -> int | None:
        with warnings.catch_warnings():
            # pystac-client warns when the API gives no count; None already says so.
            warnings.filterwarnings("ignore", "numberMatched or context.matched not in response")
            found = search.matched()
        return int(found) if found is not None else None

    def _error(self, err: APIError, url: str) -> SearchError:
        status = getattr(err, "status_code", None)
        text = " ".join(str(err).split())
        if status is not None:
            cause = f"HTTP {status}" + (f" ({text[:160]})" if text else "")
            if status not in RETRY_STATUSES:  # not retried: the request itself is wrong
                return SearchError(
                    f"STAC API {url}: {cause}; the API rejected the request — check `url` and "
                    f"the collection ids of source {self.source.name!r} in data_catalog.yaml"
                )
        elif "timed out" in text.lower():
            cause = f"no answer within timeout_s={self.settings.timeout_s:g} s"
        else:
            reason = _CAUSE.search(text)
            cause = f"connection failed ({reason.group(1) if reason else text[:160]})"
        return SearchError(
            f"STAC API {url}: {cause} after {self.settings.retries} retries; the service is "
            "down, overloaded or unreachable — try again later, raise search.retries / "
            f"timeout_s for source {self.source.name!r} in data_catalog.yaml, or use another source"
        )
