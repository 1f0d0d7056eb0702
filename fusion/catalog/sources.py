"""What users write in data_catalog.yaml: sources, their collections and search settings.

pydantic v2 models, because users write and we validate them (STYLE.md, "Config in two
layers"); everything downstream gets frozen dataclasses (:class:`CollectionBands`,
:class:`~fusion.catalog.search.SearchResult`). Sources are a union discriminated by ``kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Self
from urllib.parse import urlsplit

import pystac
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from fusion.bands import CANONICAL_BANDS, Sensor
from fusion.errors import SourceError

if TYPE_CHECKING:
    from fusion.ingest.items import CollectionBands

SOURCE_KINDS = ("demo", "stac-api", "geoparquet", "sentinelhub")


class ConfigModel(BaseModel):
    # Unknown keys are typos more often than not: reject them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchSettings(ConfigModel):
    """Search defaults; ``search:`` at the top of the file, overridable per source."""

    max_cloud: float | None = Field(default=80.0, ge=0, le=100)
    """Scene cloud cover (``eo:cloud_cover``, %) above which items are not searched for.
    Tropical scenes are rarely clear: keep this high and let the pixel masks do the rest."""
    page_size: int = Field(default=100, ge=1, le=10_000)
    """Items per result page (STAC ``limit``)."""
    max_items: int = Field(default=5_000, ge=1)
    """Cap per sensor and search; more matches raise a TruncatedSearchWarning."""
    retries: int = Field(default=5, ge=0, le=20)
    """Retries per request on 429/5xx, connection errors and timeouts."""
    backoff_factor: float = Field(default=1.0, ge=0, le=60)
    """urllib3 exponential backoff: sleeps backoff_factor × 2^(n−1) s, or Retry-After if given."""
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    """Connect and read timeout per request, seconds."""


class SearchOverrides(ConfigModel):
    """Per-source ``search:`` block: only the settings given replace the file's defaults."""

    max_cloud: float | None = Field(default=None, ge=0, le=100)
    page_size: int | None = Field(default=None, ge=1, le=10_000)
    max_items: int | None = Field(default=None, ge=1)
    retries: int | None = Field(default=None, ge=0, le=20)
    backoff_factor: float | None = Field(default=None, ge=0, le=60)
    timeout_s: float | None = Field(default=None, gt=0, le=600)

    def apply(self, defaults: SearchSettings) -> SearchSettings:
        return defaults.model_copy(update=self.model_dump(exclude_unset=True))


class CollectionConfig(ConfigModel):
    """How to read one collection: its sensor, canonical band → asset key, mask asset, scaling."""

    sensor: Sensor
    bands: dict[str, str]
    """Every canonical band (blue, green, red, nir08, swir16, swir22) → the item's asset key."""
    mask_asset: str = Field(min_length=1)
    """Landsat ``qa_pixel`` (QA_PIXEL bits) or Sentinel-2 ``scl`` / ``SCL`` (scene classes)."""
    scale: float | None = None
    """Fallback DN scale when the assets carry no ``raster:bands`` (Planetary Computer S2)."""
    offset: float | None = None
    """Fallback DN offset; leave empty for Sentinel-2, whose offset follows the processing
    baseline (−0.1 from 04.00) and is decided per item at ingest."""

    @field_validator("bands")
    @classmethod
    def _all_canonical_bands(cls, bands: dict[str, str]) -> dict[str, str]:
        missing = [b for b in CANONICAL_BANDS if b not in bands]
        unknown = [b for b in bands if b not in CANONICAL_BANDS]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown {', '.join(unknown)}")
            raise ValueError(
                f"{'; '.join(parts)}: map exactly the canonical bands "
                f"{', '.join(CANONICAL_BANDS)} to asset keys"
            )
        empty = [b for b, key in bands.items() if not key.strip()]
        if empty:
            raise ValueError(f"empty asset key for {', '.join(empty)}")
        return {b: bands[b] for b in CANONICAL_BANDS}

    def to_bands(self) -> CollectionBands:
        """The frozen description ingest reads items with."""
        from fusion.ingest.items import CollectionBands

        return CollectionBands(
            sensor=self.sensor,
            bands=dict(self.bands),
            mask_asset=self.mask_asset,
            scale=self.scale,
            offset=self.offset,
        )


class _SourceBase(ConfigModel):
    description: str = ""
    collections: dict[str, CollectionConfig] = Field(min_length=1)
    """Collection id → how to read it. Searches cover exactly these collections."""
    search: SearchOverrides | None = None

    _name: str = PrivateAttr(default="")
    _defaults: SearchSettings = PrivateAttr(default_factory=SearchSettings)

    @property
    def name(self) -> str:
        """The source's key in data_catalog.yaml (its kind for a source built in code)."""
        return self._name or str(getattr(self, "kind", "source"))

    @property
    def search_settings(self) -> SearchSettings:
        """The file's ``search:`` defaults with this source's overrides applied."""
        return self.search.apply(self._defaults) if self.search else self._defaults

    def bind(self, name: str, defaults: SearchSettings) -> Self:
        """A copy that knows its name and the file's search defaults (done by the loader)."""
        bound = self.model_copy()
        bound._name = name
        bound._defaults = defaults
        return bound

    @property
    def collection_ids(self) -> list[str]:
        """Every configured collection id, in file order."""
        return list(self.collections)

    @property
    def location(self) -> str:
        """Where the source's items come from, for listings and logs (no credentials)."""
        where = getattr(self, "url", None) or getattr(self, "path", None)
        return str(where) if where is not None else "built-in simulator"

    def collections_for(self, sensor: Sensor) -> list[str]:
        """Collection ids of one sensor, in file order (the first wins dedupe ties)."""
        return [cid for cid, c in self.collections.items() if c.sensor == sensor]

    def collection(self, collection_id: str) -> CollectionConfig:
        try:
            return self.collections[collection_id]
        except KeyError:
            raise SourceError(
                f"source {self.name!r}: collection {collection_id!r} is not configured (known: "
                f"{', '.join(self.collections)}); add it under sources.{self.name}.collections"
            ) from None

    def bands_for(self, item: pystac.Item) -> CollectionBands:
        """Band mapping for an item of one of this source's collections."""
        return self.collection(item.collection_id or "").to_bands()

    @property
    def patch_url(self) -> Callable[[str], str] | None:
        """Hook to make an asset href readable right before reading (odc-stac ``patch_url``)."""
        return None


class DemoSource(_SourceBase):
    """The built-in simulator's catalogue (offline, deterministic, Earth Search v1 schema)."""

    kind: Literal["demo"]
    seed: int = 0
    cache_dir: Path | None = None
    """Where demo worlds are cached; default ``$FUSION_CACHE_DIR`` or the user cache."""

    @field_validator("cache_dir")
    @classmethod
    def _relative_to_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)


class StacApiSource(_SourceBase):
    """Any STAC API searched with pystac-client (Earth Search, Planetary Computer, ...)."""

    kind: Literal["stac-api"]
    url: str
    sign: Literal["planetary-computer"] | None = None
    """``planetary-computer``: sign asset hrefs (SAS tokens) right before reading."""
    cloud_filter: Literal["auto", "cql2", "query", "client"] = "auto"
    """How ``max_cloud`` reaches the API: ``auto`` uses CQL2 ``filter`` when the API conforms
    to it, else the ``query`` extension, else filters the results client-side."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http(s) URL, e.g. https://earth-search.aws.element84.com/v1"
            )
        if parts.username or parts.password:
            # Credentials in a URL end up in logs and manifests; keep them out of the file.
            raise ValueError("must not contain credentials (user:password@); remove them")
        return url.strip().rstrip("/")

    @property
    def patch_url(self) -> Callable[[str], str] | None:
        if self.sign == "planetary-computer":
            import planetary_computer

            # sign() caches tokens per storage account and renews them before they expire,
            # so calling it per asset at read time is cheap (planetary-computer-sdk README).
            sign: Callable[[str], str] = planetary_computer.sign
            return sign
        return None


class GeoparquetSource(_SourceBase):
    """A local stac-geoparquet file (e.g. exported from a STAC API, or the demo's index)."""

    kind: Literal["geoparquet"]
    path: Path
    """Relative paths are taken from the folder of data_catalog.yaml."""

    @field_validator("path")
    @classmethod
    def _relative_to_file(cls, value: Path, info: ValidationInfo) -> Path:
        resolved = _resolve(value, info)
        assert resolved is not None
        return resolved


class SentinelHubSource(_SourceBase):
    """Sentinel Hub Catalog (STAC) through the ``sentinelhub`` package.

    Credentials come only from SH_CLIENT_ID / SH_CLIENT_SECRET or the sentinelhub config file
    (``sentinelhub.config --sh_client_id ...``), never from data_catalog.yaml.
    """

    kind: Literal["sentinelhub"]
    url: str = "https://services.sentinel-hub.com"
    profile: str | None = None
    """Profile of the sentinelhub config file; default ``$SH_PROFILE`` or its default profile."""


Source = Annotated[
    DemoSource | StacApiSource | GeoparquetSource | SentinelHubSource,
    Field(discriminator="kind"),
]


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    value = value.expanduser()
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    if not value.is_absolute() and base is not None:
        return Path(base) / value
    return value
