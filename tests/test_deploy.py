"""The scheduling examples in deploy/ call options that exist and read what the CLI writes."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import fusion.pipeline
from fusion.cli import main
from fusion.exit_codes import EXIT_BUSY, EXIT_NEW_ALERTS, EXIT_PARTIAL
from fusion.export.manifest import RunManifest
from fusion.pipeline import RunConfig, RunResult

REPO = Path(__file__).resolve().parents[1]
LIVE_PIPELINE = REPO / "pipelines" / "congo-earth-search.yaml"


def _dag_module() -> ModuleType:
    path = REPO / "deploy" / "airflow" / "fusion_dag.py"
    spec = importlib.util.spec_from_file_location("fusion_dag", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The pipeline replaced by one that records its config and reports two new alerts."""
    seen: dict[str, Any] = {}

    def run(config: RunConfig, *, progress: bool = True) -> RunResult:
        seen["config"] = config
        manifest = RunManifest(
            run_id="r",
            status="complete",
            started=dt.datetime.now(dt.UTC),
            parameters={},
            period=config.period(),
            aoi={},
            source=config.source,
            new_alerts=2,
        )
        return RunResult(out=config.out, manifest=manifest)

    monkeypatch.setattr(fusion.pipeline, "run", run)
    return seen


def _main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    return int(info.value.code or 0)


def test_airflow_dag_imports_without_airflow_and_reads_the_run_summary(
    fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    dag = _dag_module()
    if "airflow" not in sys.modules:
        assert dag.DAG is None
    assert dag.EXIT_BUSY == EXIT_BUSY
    command = shlex.split(dag.run_command(pipeline=str(LIVE_PIPELINE), fusion="fusion"))
    assert _main(command[1:]) == 0  # Airflow's command: plain exit codes
    assert fake_run["config"].source == "earth-search"
    last_line = capsys.readouterr().out.strip().splitlines()[-1]  # what BashOperator pushes
    assert dag.has_new_alerts(last_line) is True
    assert dag.has_new_alerts('{"new_alerts": 0}') is False and not dag.has_new_alerts(None)


def test_systemd_service_runs_a_valid_command_and_accepts_3_and_4(
    fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    unit = (REPO / "deploy" / "systemd" / "fusion-congo.service").read_text()
    settings = dict(
        line.split("=", 1)
        for line in unit.replace("\\\n", " ").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert settings["Type"] == "oneshot"
    assert set(settings["SuccessExitStatus"].split()) == {str(EXIT_NEW_ALERTS), str(EXIT_PARTIAL)}
    args = shlex.split(settings["ExecStart"])[1:]
    args[args.index("--pipeline") + 1] = str(LIVE_PIPELINE)
    assert _main(args) == EXIT_NEW_ALERTS
    assert fake_run["config"].out.name == "congo-yangambi-earth-search"
    timer = (REPO / "deploy" / "systemd" / "fusion-congo.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
