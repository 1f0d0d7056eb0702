"""A run killed mid-way (SIGKILL, no clean-up) leaves the earlier outputs intact; the rerun
resumes without recomputing finished tiles, and ends with the outputs of an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from _pipeline_helpers import assert_same_alerts, published, write_aoi

import fusion.pipeline.runner as runner_module
from fusion.pipeline import RunConfig, run

pytestmark = pytest.mark.slow

EARLIER_END = dt.date(2023, 12, 31)
LATER_END = dt.date(2024, 6, 30)

# Runs the pipeline in a child process that SIGKILLs itself at a chosen point.
DRIVER = textwrap.dedent(
    """
    import datetime as dt, json, os, signal, sys
    from pathlib import Path
    import fusion.pipeline.staging as staging
    from fusion.pipeline import RunConfig, run

    where, args = sys.argv[1], json.loads(sys.argv[2])
    if where == "after-first-tile":
        save = staging.Staging.save_checkpoint
        def save_then_die(self, *a, **k):
            save(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        staging.Staging.save_checkpoint = save_then_die
    elif where == "mid-publish":
        move, moved = Path.replace, []
        def move_then_die(self, target):
            out = move(self, target)
            if ".staging-" in str(self) and ".staging-" not in str(target):
                moved.append(target)
                if len(moved) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
            return out
        Path.replace = move_then_die
    run(RunConfig(aoi=Path(args["aoi"]), out=Path(args["out"]), series="sentinel2",
                  start=dt.date(2023, 1, 1), end=dt.date.fromisoformat(args["end"])),
        progress=False)
    """
)


def killed_run(where: str, config: RunConfig, tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    args = {"aoi": str(config.aoi), "out": str(config.out), "end": str(config.end)}
    proc = subprocess.run(
        [sys.executable, str(script), where, json.dumps(args)], capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Path, Path]:
    """The earlier run's output folder (two tiles) and an uninterrupted later run over it."""
    folder = tmp_path_factory.mktemp("resume")
    aoi = write_aoi(
        folder / "two-tiles.geojson",
        (24.450, 0.785, 24.456, 0.791),
        (24.650, 0.785, 24.656, 0.791),
    )
    config = RunConfig(
        aoi=aoi,
        out=folder / "earlier",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=EARLIER_END,
    )
    assert len(run(config, progress=False).manifest.tiles) == 2
    reference = folder / "reference"
    shutil.copytree(config.out, reference)
    run(replace(config, out=reference, end=LATER_END), progress=False)
    return config, config.out, reference


def test_killed_after_a_tile_resumes_without_recomputing_it(
    runs: tuple[RunConfig, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, earlier, reference = runs
    out = tmp_path / "out"
    shutil.copytree(earlier, out)
    later = replace(config, out=out, end=LATER_END)
    before = published(out)
    killed_run("after-first-tile", later, tmp_path)
    assert published(out) == before  # nothing published, nothing lost
    assert len(list(out.glob(".staging-*/.fusion/tiles/*.json"))) == 1

    processed: list[str] = []
    process = runner_module.process_tile

    def spy(tile, *args, **kwargs):  # type: ignore[no-untyped-def]
        processed.append(tile.id)
        return process(tile, *args, **kwargs)

    monkeypatch.setattr(runner_module, "process_tile", spy)
    manifest = run(later, progress=False).manifest
    assert manifest.status == "complete" and len(manifest.tiles) == 2
    assert len(processed) == 1, "the tile finished before the kill was recomputed"
    assert not list(out.glob(".staging-*"))
    assert_same_alerts(out, reference)
    assert published(out).keys() == published(reference).keys()


def test_killed_mid_publish_is_completed_by_the_next_run(
    runs: tuple[RunConfig, Path, Path], tmp_path: Path
) -> None:
    config, earlier, reference = runs
    out = tmp_path / "out"
    shutil.copytree(earlier, out)
    earlier_manifest = json.loads((out / "manifest.json").read_text())
    later = replace(config, out=out, end=LATER_END)
    killed_run("mid-publish", later, tmp_path)
    # The manifest is moved last: it still describes the earlier run.
    assert json.loads((out / "manifest.json").read_text())["run_id"] == earlier_manifest["run_id"]
    result = run(later, progress=False)
    assert result.manifest.status == "unchanged"  # the completed publish already holds it all
    assert not list(out.glob(".staging-*"))
    assert json.loads((out / "manifest.json").read_text())["run_id"] != earlier_manifest["run_id"]
    assert_same_alerts(out, reference)
    assert published(out).keys() == published(reference).keys()
