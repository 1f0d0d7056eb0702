"""The command line: clear one-line errors, right exit codes, no partial outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import Point, box

from fusion.cli import EXIT_FAILED, EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[1]


def _fc(geometry: dict) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
        }
    )


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.err


BAD_AOIS = {
    "missing": (None, "not found"),
    "empty": ("", "empty"),
    "broken": ("{", "not valid JSON"),
    "point": (_fc(Point(24.4, 0.8).__geo_interface__), "not an area"),
    "bowtie": (
        _fc(
            {
                "type": "Polygon",
                "coordinates": [[[24, 0], [24.1, 0.1], [24.1, 0], [24, 0.1], [24, 0]]],
            }
        ),
        "self-intersecting",
    ),
    "range": (_fc(box(200, 0, 201, 1).__geo_interface__), "out of range"),
}


@pytest.mark.parametrize("case", sorted(BAD_AOIS))
def test_bad_aoi_is_one_line_nonzero_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, expected = BAD_AOIS[case]
    aoi = tmp_path / "aoi.geojson"
    if content is not None:
        aoi.write_text(content)
    out = tmp_path / "out"
    code, stderr = _run_cli(["run", "--aoi", str(aoi), "--out", str(out)], capsys)
    assert code == EXIT_FAILED
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert expected in lines[0]
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())


def test_reversed_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stderr = _run_cli(
        [
            "run",
            "--aoi",
            str(REPO / "congo.geojson"),
            "--start",
            "2024-05-01",
            "--end",
            "2024-01-01",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == EXIT_FAILED
    assert "after --end" in stderr and stderr.count("\n") == 1


def test_malformed_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, stderr = _run_cli(
        ["run", "--aoi", str(REPO / "congo.geojson"), "--start", "May 1st"], capsys
    )
    assert code == EXIT_USAGE
    assert "YYYY-MM-DD" in stderr


def test_unknown_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stderr = _run_cli(
        [
            "run",
            "--aoi",
            str(REPO / "congo.geojson"),
            "--source",
            "nowhere",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == EXIT_FAILED
    assert "nowhere" in stderr and "known: demo" in stderr


def test_console_script_is_installed_and_prints_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fusion.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    for command in ("run", "search", "fuse", "train", "sources"):
        assert command in done.stdout


def test_tile_size_must_nest_landsat_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--aoi", str(REPO / "congo.geojson"), "--out", str(tmp_path / "o")]
    code, stderr = _run_cli([*args, "--tile-size-m", "1000"], capsys)
    assert code == EXIT_FAILED
    assert "tile size 1000 m" in stderr and "multiple of 30" in stderr
    assert "Traceback" not in stderr


def test_on_missing_takes_fail_or_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(_fc(box(24.450, 0.785, 24.465, 0.800).__geo_interface__))
    code, stderr = _run_cli(["run", "--aoi", str(aoi), "--on-missing", "ignore"], capsys)
    assert code == EXIT_USAGE
    assert "--on-missing" in stderr and "fail, skip" in stderr


def test_train_names_a_bad_config_or_missing_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: many\n")
    code, stderr = _run_cli(["train", "--config", str(bad)], capsys)
    assert code == EXIT_FAILED and "bad.yaml" in stderr and "steps" in stderr
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text(
        f"out: {tmp_path / 'w.pt'}\ninit: {tmp_path / 'none.pt'}\nsteps: 1\n"
        "sources: {weights: {synthetic: 1.0}, synthetic_scenes: 1, synthetic_size: 36}\n"
    )
    code, stderr = _run_cli(["train", "--config", str(orphan)], capsys)
    assert code == EXIT_FAILED and "none.pt" in stderr, stderr
    assert "Traceback" not in stderr and not (tmp_path / "w.pt").exists()
