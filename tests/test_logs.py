"""`fusion --log-format json`: every stderr line is one JSON object, errors and warnings too."""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping

import fusion.pipeline
from fusion.cli import main
from fusion.errors import AOIError, SkippedAssetWarning
from fusion.exit_codes import EXIT_FAILED, EXIT_USAGE
from fusion.export.manifest import RunManifest
from fusion.logs import JsonFormatter
from fusion.pipeline import RunConfig, RunResult
from fusion.pipeline.progress import Stages

REPO = Path(__file__).resolve().parents[1]


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        dt.datetime.fromisoformat(record["time"])
    return records


def _main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    return int(info.value.code or 0)


def test_formatter_puts_extras_and_exceptions_in_fields() -> None:
    record = logging.LogRecord("fusion.x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    record.tile, record.path = "t1", Path("/x")
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "a b" and out["tile"] == "t1" and out["path"] == "/x"
    assert out["level"] == "INFO" and out["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


@pytest.fixture
def chatty_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline stand-in that logs, times a stage, warns and lets a library warn."""

    def run(config: RunConfig, *, progress: bool = True) -> RunResult:
        stages = Stages(show=progress)
        logging.getLogger("fusion.pipeline").info(
            "tile %s (1/1): 3 scenes", "t1", extra={"run_id": "r1", "tile": "t1"}
        )
        with stages.compute("read + fuse + detect", "t1"):
            pass
        logging.getLogger("rasterio").warning("a library warning")
        warnings.showwarning(SkippedAssetWarning("item x: asset red unreadable"), SkippedAssetWarning, __file__, 1)  # fmt: skip
        manifest = RunManifest(
            run_id="r1",
            status="partial",
            started=dt.datetime.now(dt.UTC),
            parameters={},
            period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
            aoi={},
            source="demo",
            new_alerts=1,
            timings_s=stages.timings,
        )
        return RunResult(out=config.out, manifest=manifest)

    monkeypatch.setattr(fusion.pipeline, "run", run)


def test_a_run_logs_only_json_lines(
    chatty_run: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(
        [
            "--log-format",
            "json",
            "run",
            "--aoi",
            str(REPO / "congo.geojson"),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    records = _json_lines(captured.err)
    by_message = {r["message"]: r for r in records}
    assert by_message["tile t1 (1/1): 3 scenes"]["run_id"] == "r1"
    done = next(r for r in records if r.get("duration_s") is not None)
    assert done["stage"] == "read + fuse + detect" and done["tile"] == "t1"
    warned = by_message["item x: asset red unreadable"]
    assert warned["level"] == "WARNING" and warned["category"] == "SkippedAssetWarning"
    assert by_message["a library warning"]["logger"] == "rasterio"
    final = records[-1]
    assert final["run_id"] == "r1" and final["new_alerts"] == 1 and final["status"] == "partial"
    assert "read + fuse + detect" in final["timings_s"]
    assert json.loads(captured.out)["run_id"] == "r1"  # the summary, alone on stdout


def test_errors_are_json_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aoi = tmp_path / "empty.geojson"
    aoi.write_text("")
    code = _main(["--log-format", "json", "run", "--aoi", str(aoi), "--out", str(tmp_path / "o")])
    assert code == EXIT_FAILED
    (record,) = _json_lines(capsys.readouterr().err)
    assert record["level"] == "ERROR" and record["message"].startswith("error:")
    assert record["exit_code"] == EXIT_FAILED and record["error"] == AOIError.__name__


@pytest.mark.parametrize(
    "args",
    [
        ["--log-format", "json", "run", "--aoi", "a.geojson", "--start", "May 1st"],
        ["--log-format=json", "run", "--no-such-option"],
    ],
)
def test_usage_errors_are_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(args) == EXIT_USAGE
    (record,) = _json_lines(capsys.readouterr().err)
    assert record["exit_code"] == EXIT_USAGE and record["message"].startswith("usage error:")


def test_env_var_selects_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FUSION_LOG_FORMAT", "json")
    assert _main(["run", "--aoi", str(tmp_path / "missing.geojson")]) == EXIT_FAILED
    assert _json_lines(capsys.readouterr().err)[0]["level"] == "ERROR"


@pytest.mark.slow
def test_a_real_demo_run_logs_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A small Sentinel-2-only demo run, end to end, with the detailed exit codes."""
    aoi = tmp_path / "aoi.geojson"
    feature = {"type": "Feature", "properties": {}}
    aoi.write_text(json.dumps({**feature, "geometry": mapping(box(24.450, 0.785, 24.465, 0.800))}))
    out = tmp_path / "out"
    args = ["--log-format", "json", "run", "--aoi", str(aoi), "--out", str(out)]
    args += ["--start", "2023-01-01", "--end", "2024-06-30", "--sensors", "sentinel2"]
    code = _main([*args, "--detailed-exit-codes"])
    manifest = json.loads((out / "manifest.json").read_text())
    expected = 3 if manifest["new_alerts"] else 4 if manifest["status"] == "partial" else 0
    assert code == expected
    captured = capsys.readouterr()
    records = _json_lines(captured.err)
    assert any(r.get("stage") == "read + fuse + detect" and "duration_s" in r for r in records)
    assert records[-1]["run_id"] == manifest["run_id"]
    assert json.loads(captured.out)["exit_code"] == expected


def test_debug_puts_the_traceback_in_the_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--log-format", "json", "--debug", "run", "--aoi", str(tmp_path / "missing.json")]
    assert _main(args) == EXIT_FAILED
    (record,) = _json_lines(capsys.readouterr().err)
    assert "Traceback" in record["exception"] and "AOIError" in record["exception"]
