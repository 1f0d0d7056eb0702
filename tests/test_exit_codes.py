"""Exit codes of `fusion run` for schedulers: nothing new, new alerts, partial, failed, usage."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import fusion.pipeline
from fusion.cli import main
from fusion.exit_codes import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NEW_ALERTS,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    run_exit_code,
)
from fusion.export.manifest import RunManifest
from fusion.pipeline import RunConfig, RunResult

REPO = Path(__file__).resolve().parents[1]


def manifest(*, new_alerts: int = 0, status: str = "complete") -> RunManifest:
    return RunManifest(
        run_id="20260101T000000Z-abcdef",
        status=status,  # type: ignore[arg-type]
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        parameters={},
        period=(dt.date(2025, 10, 3), dt.date(2026, 1, 1)),
        aoi={},
        source="demo",
        new_alerts=new_alerts,
    )


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the pipeline with one returning the manifest in ``state['manifest']``."""
    state: dict[str, Any] = {"manifest": manifest()}

    def run(config: RunConfig, *, progress: bool = True) -> RunResult:
        state["config"], state["progress"] = config, progress
        if "raise" in state:
            raise state["raise"]
        return RunResult(out=config.out, manifest=state["manifest"])

    monkeypatch.setattr(fusion.pipeline, "run", run)
    return state


def _exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)  # main returns normally on success: that is exit status 0
    return int(info.value.code or 0)


def _run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--aoi", str(REPO / "congo.geojson"), "--out", str(tmp_path / "o"), *extra]


@pytest.mark.parametrize(
    "new_alerts,status,detailed,expected",
    [
        (0, "complete", False, EXIT_OK),
        (5, "complete", False, EXIT_OK),  # success is 0 unless asked: systemd, Airflow
        (0, "partial", False, EXIT_OK),
        (0, "complete", True, EXIT_OK),
        (5, "complete", True, EXIT_NEW_ALERTS),
        (0, "partial", True, EXIT_PARTIAL),
        (2, "partial", True, EXIT_NEW_ALERTS),  # alerts win: never miss a notification
    ],
)
def test_run_exit_codes(
    new_alerts: int,
    status: str,
    detailed: bool,
    expected: int,
    fake_run: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_run["manifest"] = manifest(new_alerts=new_alerts, status=status)
    args = _run_args(tmp_path, *(["--detailed-exit-codes"] if detailed else []))
    assert _exit_code(args) == expected
    assert run_exit_code(fake_run["manifest"], detailed=detailed) == expected
    stdout = capsys.readouterr().out
    assert f"{new_alerts} new alerts" in stdout


def test_failures_usage_and_interrupts_keep_their_codes(
    fake_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fusion.errors import NoScenesError, OutputLockedError

    fake_run["raise"] = NoScenesError("tile t: no scenes; widen the dates")
    assert _exit_code(_run_args(tmp_path, "--detailed-exit-codes")) == EXIT_FAILED
    fake_run["raise"] = OutputLockedError("output folder o: locked by run a (pid 1); retry")
    assert _exit_code(_run_args(tmp_path)) == EXIT_BUSY
    fake_run["raise"] = KeyboardInterrupt()
    assert _exit_code(_run_args(tmp_path, "--detailed-exit-codes")) == EXIT_INTERRUPTED
    assert _exit_code(_run_args(tmp_path, "--detailed-exit-codes=yes")) == EXIT_USAGE
    assert "interrupted" in capsys.readouterr().err


def test_quiet_success_prints_nothing(
    fake_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """cron mails whatever a job prints: a quiet run with nothing to report prints nothing."""
    fake_run["manifest"] = manifest(new_alerts=3)
    assert _exit_code(["--quiet", *_run_args(tmp_path, "--detailed-exit-codes")]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert fake_run["progress"] is False


def test_help_documents_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--detailed-exit-codes" in text
    assert "3 new confirmed alerts" in text and "130 interrupted" in text


def test_summary_json_on_stdout_in_json_mode(
    fake_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run["manifest"] = manifest(new_alerts=2)
    code = _exit_code(["--log-format", "json", *_run_args(tmp_path, "--detailed-exit-codes")])
    assert code == EXIT_NEW_ALERTS
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["new_alerts"] == 2 and summary["exit_code"] == EXIT_NEW_ALERTS
    assert summary["run_id"] == "20260101T000000Z-abcdef"
