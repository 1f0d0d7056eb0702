"""Monitoring definitions: the shipped example parses; paths follow the file; errors are precise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fusion.errors import ConfigError
from fusion.pipeline import RunConfig
from fusion.pipeline.definition import load_pipeline

REPO = Path(__file__).resolve().parents[2]


def test_shipped_definition_resolves_paths_relative_to_itself() -> None:
    definition = load_pipeline(REPO / "pipelines" / "congo.yaml")
    config = definition.to_run_config()
    assert config.aoi == REPO / "congo.geojson"
    assert config.aoi.is_file()
    assert config.period() == (dt.date(2023, 1, 1), dt.date(2024, 6, 30))
    assert config.extra == {"pipeline": "congo-yangambi"}


def test_last_days_window_ends_on_the_run_day_and_cli_options_override(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\naoi: a.geojson\nsource: earth-search\nwindow: {last_days: 30}\n")
    config = load_pipeline(path).to_run_config(today=dt.date(2026, 3, 31), out=tmp_path / "o")
    assert (config.start, config.end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert config.out == tmp_path / "o" and config.source == "earth-search"


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "name: x\naoi: a.geojson\nwindow: {last_days: 30, start: 2024-01-01}\n",
            "either start/end or last_days",
        ),
        ("name: x\naoi: a.geojson\nmax_cloud: 150\n", "max_cloud"),
        ("name: x\naoi: a.geojson\ncolour: blue\n", "colour: unknown setting; valid here: name"),
        ("name: x\naoi: a.geojson\nwindow: {days: 3}\n", "window.days: .*valid here: start"),
        ("name: x\naoi: a.geojson\nmonitor: {thresh: -3}\n", "monitor: unknown .*thresh"),
        ("name: x\naoi: a.geojson\nmonitor: {threshold: 2}\n", "threshold=2 is invalid"),
        ("name: x\naoi: a.geojson\nseries: radar\n", "series: Input should be 'fused'"),
        ("name: x\naoi: a.geojson\nmmu_ha: 0\n", "mmu_ha"),
        ("name: x\naoi: a.geojson\nedge_share: 1\n", "edge_share"),
        ("name: [x\n", "invalid YAML"),
        ("- just a list\n", "mapping"),
    ],
)
def test_bad_definitions_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_pipeline(path)
    assert str(path) in str(info.value)


def test_live_example_loads_with_every_setting() -> None:
    """The Earth Search example (not run here: it needs the network) is valid and complete."""
    definition = load_pipeline(REPO / "pipelines" / "congo-earth-search.yaml")
    config = definition.to_run_config(today=dt.date(2026, 3, 31))
    assert config.source == "earth-search" and config.series == "fused"
    assert (config.start, config.end) == (dt.date(2025, 12, 31), dt.date(2026, 3, 31))
    assert config.monitor["threshold"] == -5.0 and config.monitor["confirm_window"] == 4
    assert config.mmu_ha == 0.05 and config.aoi == REPO / "congo.geojson"
    assert config.edge_share == 0.5
    assert config.out == REPO / "fusion-output" / "congo-yangambi-earth-search"


def test_monitor_settings_merge_over_the_run_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\naoi: a.geojson\ncatalog: cat/data_catalog.yaml\nseries: sentinel2\n"
        "monitor: {threshold: -4, confirm_threshold: -2}\nmmu_ha: 0.1\nedge_share: 0\n"
        "forest_mask: masks/forest.tif\n"
    )
    config = load_pipeline(path).to_run_config()
    assert config.monitor == RunConfig(aoi=path).monitor | {
        "threshold": -4,
        "confirm_threshold": -2,
    }
    assert config.series == "sentinel2" and config.mmu_ha == 0.1 and config.edge_share == 0
    assert config.catalog == tmp_path / "cat" / "data_catalog.yaml"
    assert config.forest_mask == tmp_path / "masks" / "forest.tif"
    assert config.sensors == ("sentinel2",)


def test_left_out_settings_take_the_run_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\naoi: a.geojson\n")
    config = load_pipeline(path).to_run_config(series="landsat")
    default = RunConfig(aoi=path)
    assert config.mmu_ha == default.mmu_ha and config.monitor == default.monitor
    assert config.catalog is None and config.series == "landsat"
    assert config.forest_mask is None and not config.fresh


def test_on_missing_is_a_setting_and_the_cli_overrides_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\naoi: a.geojson\non_missing: skip\n")
    assert load_pipeline(path).to_run_config().on_missing == "skip"
    assert load_pipeline(path).to_run_config(on_missing="fail").on_missing == "fail"
    path.write_text("name: x\naoi: a.geojson\non_missing: ignore\n")
    with pytest.raises(ConfigError, match="on_missing"):
        load_pipeline(path)


def test_python_tags_are_refused_never_run(tmp_path: Path) -> None:
    """yaml.safe_load: a `!!python/object` tag is an error naming the file, never code."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(
        "name: !!python/object/apply:pathlib.Path.touch\n"
        f"  - !!python/object/apply:pathlib.Path ['{marker}']\n"
        "aoi: a.geojson\n"
    )
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_pipeline(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()
