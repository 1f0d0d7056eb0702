"""data_catalog.yaml: the shipped file parses; every mistake gets a message naming file, field and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from fusion.bands import CANONICAL_BANDS
from fusion.catalog import (
    DemoSource,
    GeoparquetSource,
    SentinelHubSource,
    StacApiSource,
    find_catalog_path,
    load_catalog,
)
from fusion.catalog.config import ENV_VAR, PACKAGED
from fusion.errors import ConfigError, SourceError
from fusion.ingest.items import CollectionBands

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
version: 1
default_source: mine
sources:
  mine:
    kind: stac-api
    url: https://example.org/stac/v1/
    collections:
      landsat-c2-l2:
        sensor: landsat
        bands: {blue: blue, green: green, red: red, nir08: nir08, swir16: swir16, swir22: swir22}
        mask_asset: qa_pixel
"""


@pytest.fixture(autouse=True)
def _no_catalog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def write(tmp_path: Path, text: str, name: str = "data_catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_catalog_is_the_packaged_one_and_parses() -> None:
    assert PACKAGED.is_file()
    assert PACKAGED.resolve() == (REPO / "data_catalog.yaml").resolve()
    assert (REPO / "fusion" / "catalog" / "data_catalog.yaml").is_symlink()
    catalog = load_catalog(REPO / "data_catalog.yaml")
    assert catalog.default_source == "demo"
    assert isinstance(catalog.source(), DemoSource)
    es = catalog.source("earth-search")
    assert isinstance(es, StacApiSource)
    assert es.url == "https://earth-search.aws.element84.com/v1"
    assert es.collections_for("sentinel2") == ["sentinel-2-c1-l2a", "sentinel-2-l2a"]
    assert es.collections_for("landsat") == ["landsat-c2-l2"]
    assert es.patch_url is None
    pc = catalog.source("planetary-computer")
    assert isinstance(pc, StacApiSource) and pc.sign == "planetary-computer"
    assert callable(pc.patch_url)  # planetary_computer.sign; not called: it needs the network
    assert isinstance(catalog.source("sentinelhub"), SentinelHubSource)
    assert {s.name for s in catalog.sources.values()} == set(catalog.sources)


def test_collection_to_bands_gives_ingest_its_mapping() -> None:
    pc = load_catalog(REPO / "data_catalog.yaml").source("planetary-computer")
    s2 = pc.collection("sentinel-2-l2a").to_bands()
    assert isinstance(s2, CollectionBands)
    assert s2.sensor == "sentinel2" and s2.mask_asset == "SCL"
    assert tuple(s2.bands) == CANONICAL_BANDS and s2.bands["nir08"] == "B8A"
    assert s2.scale == pytest.approx(1e-4) and s2.offset is None
    landsat = pc.collection("landsat-c2-l2").to_bands()
    assert landsat.sensor == "landsat" and landsat.mask_asset == "qa_pixel"


def test_search_defaults_and_per_source_overrides(tmp_path: Path) -> None:
    text = MINIMAL.replace("version: 1\n", "version: 1\nsearch: {max_cloud: 60, retries: 2}\n")
    text += "    search: {max_items: 50}\n"
    settings = load_catalog(write(tmp_path, text)).source().search_settings
    assert (settings.max_cloud, settings.retries, settings.max_items) == (60, 2, 50)
    assert settings.page_size == 100  # untouched default


def test_url_is_normalised(tmp_path: Path) -> None:
    source = load_catalog(write(tmp_path, MINIMAL)).source()
    assert isinstance(source, StacApiSource) and source.url == "https://example.org/stac/v1"


def test_geoparquet_path_is_relative_to_the_file(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "kind: stac-api\n    url: https://example.org/stac/v1/",
        "kind: geoparquet\n    path: items.parquet",
    )
    source = load_catalog(write(tmp_path, text)).source()
    assert isinstance(source, GeoparquetSource)
    assert source.path == tmp_path.resolve() / "items.parquet"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "sensor: landsat",
            "sensor: landsat8",
            [
                "sources.mine.collections.landsat-c2-l2.sensor",
                "'landsat8'",
                "'landsat' or 'sentinel2'",
            ],
        ),
        (
            "mask_asset: qa_pixel",
            "mask_assets: qa_pixel",
            ["mask_assets: unknown field; remove it", "mask_asset: required but missing; add it"],
        ),
        (
            ", swir22: swir22}",
            "}",
            [
                "collections.landsat-c2-l2.bands",
                "missing swir22",
                "map exactly the canonical bands",
            ],
        ),
        (
            "kind: stac-api",
            "kind: ftp",
            [
                "sources.mine: unknown source kind 'ftp'",
                "use one of demo, stac-api, geoparquet, sentinelhub",
            ],
        ),
        (
            "default_source: mine",
            "default_source: yours",
            ["default_source 'yours' is not one of the sources (mine)"],
        ),
        (
            "https://example.org",
            "ftp://example.org",
            ["sources.mine.url", "must be an http(s) URL"],
        ),
        (
            "https://example.org",
            "https://me:secret@example.org",
            ["sources.mine.url", "must not contain credentials"],
        ),
        ("version: 1", "version: 2", ["version: 2 is not allowed", "1"]),
    ],
)
def test_bad_field_names_file_field_and_fix(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for part in expected:
        assert part in message
    assert "secret" not in message or "credentials" in message  # never echo a URL with secrets
    if "me:secret" in new:
        assert "me:secret" not in message


def test_unknown_source_name_lists_the_known_ones(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, MINIMAL))
    with pytest.raises(
        SourceError, match=r"source 'nope' is not in the data catalog \(known: mine\); pick one"
    ):
        catalog.source("nope")
    with pytest.raises(
        SourceError,
        match=r"collection 'sentinel-2-l2a' is not configured .* add it under sources.mine.collections",
    ):
        catalog.source().collection("sentinel-2-l2a")


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("    kind: stac-api", "    kind: [stac-api"))
    with pytest.raises(ConfigError, match=rf"^{path}:6:\d+: invalid YAML .*fix the syntax there"):
        load_catalog(path)
    with pytest.raises(
        ConfigError, match="expected a mapping with `sources:` at the top level, got list"
    ):
        load_catalog(write(tmp_path, "- a\n- b\n", "list.yaml"))


def test_missing_file_explicit_and_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        ConfigError, match=r"nope\.yaml: data catalog file not found; pass an existing file"
    ):
        load_catalog(tmp_path / "nope.yaml")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.yaml"))
    with pytest.raises(
        ConfigError, match=rf"gone\.yaml: data catalog file named by \${ENV_VAR} not found"
    ):
        load_catalog()


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, MINIMAL, "explicit.yaml")
    from_env = write(tmp_path, MINIMAL, "env.yaml")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    local = write(cwd, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert find_catalog_path() == PACKAGED  # nothing else: the packaged copy
    monkeypatch.chdir(cwd)
    assert find_catalog_path() == local
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert find_catalog_path() == from_env
    assert find_catalog_path(explicit) == explicit


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    # yaml.safe_load: a python tag is an error, never code.
    path = write(
        tmp_path,
        MINIMAL.replace(
            "default_source: mine", "default_source: !!python/object/apply:os.getcwd []"
        ),
    )
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_catalog(path)
    assert yaml.safe_load(PACKAGED.read_text())["default_source"] == "demo"
