"""Search the Sentinel Hub Catalog (a STAC API behind OAuth) through the ``sentinelhub`` package.

Credentials come only from SH_CLIENT_ID / SH_CLIENT_SECRET or the sentinelhub config file
(``sentinelhub.config``), are checked before any request, and never appear in messages or
logs: errors say which variable is missing, not what any value is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pystac
import shapely.geometry

from fusion.catalog.search import Hits, SearchRequest, cloud_ok, items_from_dicts
from fusion.catalog.sources import SentinelHubSource
from fusion.errors import SearchError, SourceError

if TYPE_CHECKING:
    from sentinelhub import SHConfig

ID_VAR = "SH_CLIENT_ID"
SECRET_VAR = "SH_CLIENT_SECRET"


def sentinelhub_config(source: SentinelHubSource) -> SHConfig:
    """An SHConfig from the environment or the sentinelhub config file; SourceError if no credentials."""
    from sentinelhub import SHConfig

    settings = source.search_settings
    options: dict[str, Any] = {
        "sh_base_url": source.url,
        "max_download_attempts": settings.retries + 1,
        "download_timeout_seconds": settings.timeout_s,
        "download_sleep_time": max(settings.backoff_factor, 0.1),
    }
    config_file = Path(SHConfig.get_config_location())
    if config_file.is_file():
        try:
            config = SHConfig(source.profile, **options)  # environment variables take precedence
        except KeyError:
            raise SourceError(
                f"source {source.name!r}: profile {source.profile!r} is not in {config_file}; "
                "fix `profile` in data_catalog.yaml or add it with `sentinelhub.config --profile`"
            ) from None
    else:
        # SHConfig() would write a default config file into the user's home; avoid that.
        options["sh_client_id"] = os.environ.get(ID_VAR, "")
        options["sh_client_secret"] = os.environ.get(SECRET_VAR, "")
        config = SHConfig(use_defaults=True, **options)
    missing = [
        name
        for name, value in ((ID_VAR, config.sh_client_id), (SECRET_VAR, config.sh_client_secret))
        if not value
    ]
    if missing:
        raise SourceError(
            f"source {source.name!r} (Sentinel Hub): no credentials ({' and '.join(missing)} not "
            f"set, and none in {config_file}); export {ID_VAR} and {SECRET_VAR} (an OAuth client of "
            "your Sentinel Hub account) or run `sentinelhub.config --sh_client_id ... "
            "--sh_client_secret ...`"
        )
    return config


class SentinelHubSearcher:
    """Searches the Sentinel Hub Catalog; credentials are checked on the first search."""

    def __init__(self, source: SentinelHubSource) -> None:
        self.source = source

    def search(self, request: SearchRequest) -> Hits:
        config = sentinelhub_config(self.source)
        from sentinelhub import CRS, Geometry, SentinelHubCatalog
        from sentinelhub.exceptions import BaseSentinelHubException

        catalog = SentinelHubCatalog(config=config)
        geometry = Geometry(shapely.geometry.shape(request.intersects), CRS.WGS84)
        cap = request.settings.max_items
        cql2 = f"eo:cloud_cover < {request.max_cloud}" if request.max_cloud is not None else None
        dicts: list[dict[str, Any]] = []
        truncated = False
        try:
            for collection in request.collections:
                results = catalog.search(
                    collection,
                    time=(request.start, request.end),
                    geometry=geometry,
                    filter=cql2,
                    limit=min(request.settings.page_size, 100),  # the Catalog's page maximum
                )
                for found in results:
                    if len(dicts) >= cap:
                        truncated = True
                        break
                    found.setdefault("collection", collection)
                    if cloud_ok(found.get("properties", {}), request.max_cloud):
                        dicts.append(found)
        except (BaseSentinelHubException, OSError) as err:  # requests errors derive from OSError
            raise SearchError(
                f"Sentinel Hub Catalog {self.source.url}/api/v1/catalog/1.0.0/search: "
                f"{type(err).__name__} ({' '.join(str(err).split())[:200]}) after "
                f"{request.settings.retries} retries; check the "
                "service status and your account's access, or use another source"
            ) from None
        items: list[pystac.Item] = items_from_dicts(dicts)
        return Hits(items=items, matched=None if truncated else len(items), truncated=truncated)
