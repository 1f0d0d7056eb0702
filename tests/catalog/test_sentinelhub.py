"""Sentinel Hub source: credentials only from the environment or its config file; no network."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping

from fusion.catalog import SentinelHubSource, load_catalog, search_items
from fusion.catalog.sentinelhub import sentinelhub_config
from fusion.errors import SourceError

REPO = Path(__file__).resolve().parents[2]
AOI = mapping(box(24.44, 0.77, 24.48, 0.81))
SECRET = "s3cr3t-value-never-printed"


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SentinelHubSource:
    """The shipped sentinelhub source, with no credentials anywhere."""
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("SH_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no sentinelhub config.toml
    found = load_catalog(REPO / "data_catalog.yaml").source("sentinelhub")
    assert isinstance(found, SentinelHubSource)
    return found


def test_missing_credentials_is_a_clear_source_error(
    source: SentinelHubSource, tmp_path: Path
) -> None:
    with pytest.raises(SourceError) as info:
        search_items(
            source, intersects=AOI, start=date(2024, 1, 1), end=date(2024, 1, 31), max_cloud=None
        )
    message = str(info.value)
    assert (
        "source 'sentinelhub' (Sentinel Hub): no credentials (SH_CLIENT_ID and SH_CLIENT_SECRET not set"
        in message
    )
    assert "export SH_CLIENT_ID and SH_CLIENT_SECRET" in message
    assert not (
        tmp_path / "config" / "sentinelhub"
    ).exists()  # nothing written into the home folder


def test_half_the_credentials_names_the_missing_one_only(
    source: SentinelHubSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    with pytest.raises(SourceError, match=r"no credentials \(SH_CLIENT_ID not set") as info:
        search_items(
            source, intersects=AOI, start=date(2024, 1, 1), end=date(2024, 1, 31), max_cloud=None
        )
    assert SECRET not in str(info.value)


def test_credentials_from_config_file_and_environment(
    source: SentinelHubSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "config" / "sentinelhub" / "config.toml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(
        f'[default-profile]\nsh_client_id = "from-file"\nsh_client_secret = "{SECRET}"\n'
    )
    config = sentinelhub_config(source)
    assert (config.sh_client_id, config.sh_client_secret) == ("from-file", SECRET)
    assert config.sh_base_url == source.url
    assert SECRET not in repr(config)  # sentinelhub masks credentials in its repr
    monkeypatch.setenv("SH_CLIENT_ID", "from-env")
    assert sentinelhub_config(source).sh_client_id == "from-env"
    wrong = source.model_copy(update={"profile": "nope"})
    with pytest.raises(SourceError, match=r"profile 'nope' is not in .*config\.toml"):
        sentinelhub_config(wrong)


@pytest.mark.shared_data
def test_results_become_pystac_items(
    source: SentinelHubSource, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    import sentinelhub

    monkeypatch.setenv("SH_CLIENT_ID", "id")
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    item = json.loads(
        (shared_data / "stac-items/pystac-client_cassettes/pc_sentinel-2-l2a.json").read_text()
    )
    item.pop("collection")  # Sentinel Hub Catalog items name their collection in links only
    calls: list[dict[str, Any]] = []

    def fake_search(self: Any, collection: str, **kwargs: Any) -> list[dict[str, Any]]:
        calls.append({"collection": collection, **kwargs})
        return [json.loads(json.dumps(item))] if collection == "sentinel-2-l2a" else []

    monkeypatch.setattr(sentinelhub.SentinelHubCatalog, "search", fake_search)
    result = search_items(
        source, intersects=AOI, start=date(2019, 1, 1), end=date(2019, 1, 1), max_cloud=60
    )
    assert [i.id for i in result.items["sentinel2"]] == [item["id"]]
    assert result.items["sentinel2"][0].collection_id == "sentinel-2-l2a"
    assert result.items["landsat"] == []
    assert [c["collection"] for c in calls] == ["landsat-ot-l2", "sentinel-2-l2a"]
    assert calls[0]["filter"] == "eo:cloud_cover < 60"
