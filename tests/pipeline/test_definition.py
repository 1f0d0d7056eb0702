"""Monitoring definitions: the shipped example parses; paths follow the file; errors are precise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fusion.errors import ConfigError
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
        ("name: x\naoi: a.geojson\ncolour: blue\n", "colour"),
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
