"""Incremental monitoring at the pipeline level: per-tile Zarr states in the output folder.

Scheduled runs one after another equal one run over the whole period; a rerun with nothing
new changes nothing; a state only continues runs that ask for the same monitor.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from _pipeline_helpers import assert_same_alerts, published, states, write_aoi

from fusion.catalog.search import SearchResult
from fusion.errors import MonitorStateError
from fusion.pipeline import RunConfig, run, runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aoi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_aoi(tmp_path_factory.mktemp("aoi") / "aoi.geojson", (24.450, 0.785, 24.462, 0.797))


@pytest.mark.parametrize("series", ["sentinel2", "landsat"])
def test_scheduled_runs_equal_one_run_over_the_whole_period(
    aoi: Path, tmp_path: Path, series: str
) -> None:
    first = RunConfig(
        aoi=aoi,
        out=tmp_path / "scheduled",
        series=series,  # type: ignore[arg-type]
        start=dt.date(2023, 1, 1),
        end=dt.date(2023, 9, 30),
        monitor_start=dt.date(2023, 7, 1),
    )
    run(first, progress=False)
    # The later runs name no monitor start: the state's holds. Their windows overlap.
    for start, end in ((dt.date(2023, 9, 1), dt.date(2024, 1, 31)), (None, dt.date(2024, 6, 30))):
        result = run(replace(first, start=start, end=end, monitor_start=None), progress=False)
        assert result.manifest.status == "complete"
    whole = replace(first, out=tmp_path / "whole", end=dt.date(2024, 6, 30))
    run(whole, progress=False)

    assert_same_alerts(first.out, whole.out)
    scheduled, once = states(first.out), states(whole.out)
    assert scheduled.keys() == once.keys() and scheduled
    for name in scheduled:
        xr.testing.assert_identical(scheduled[name], once[name])
    (tile,) = json.loads((first.out / "manifest.json").read_text())["tiles"]
    assert tile["monitor"]["previous_last_time"] < tile["monitor"]["last_time"]
    assert tile["monitor"]["monitor_start"] == "2023-07-01"


def test_rerun_with_nothing_new_changes_nothing(aoi: Path, tmp_path: Path) -> None:
    config = RunConfig(
        aoi=aoi,
        out=tmp_path / "out",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2023, 12, 31),
    )
    first = run(config, progress=False).manifest
    before = published(config.out)
    again = run(config, progress=False).manifest
    assert again.status == "unchanged" and again.new_alerts == 0
    assert published(config.out) == before
    assert not list(config.out.glob(".staging-*"))
    assert first.new_alerts == sum(t.monitor["new_confirmed_alerts"] for t in first.tiles)


def test_new_alerts_count_only_what_earlier_runs_had_not_confirmed(
    aoi: Path, tmp_path: Path
) -> None:
    config = RunConfig(
        aoi=aoi,
        out=tmp_path / "out",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2024, 6, 30),
        monitor_start=dt.date(2023, 7, 1),
    )
    total = run(config, progress=False).manifest.new_alerts
    assert total > 0, "the demo AOI has clearings in the monitoring period"
    split = replace(config, out=tmp_path / "split", end=dt.date(2023, 12, 31))
    early = run(split, progress=False).manifest.new_alerts
    late = run(replace(split, end=config.end, monitor_start=None), progress=False).manifest
    assert late.new_alerts <= total
    assert early + late.new_alerts >= total  # patches confirmed early and grown later count once


def test_a_state_continues_only_the_same_monitor(aoi: Path, tmp_path: Path) -> None:
    config = RunConfig(
        aoi=aoi,
        out=tmp_path / "out",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2023, 12, 31),
    )
    run(config, progress=False)
    before = published(config.out)
    stricter = replace(config, monitor={**config.monitor, "threshold": -6.0})
    with pytest.raises(MonitorStateError, match=r"monitor parameters.*--fresh"):
        run(stricter, progress=False)
    with pytest.raises(MonitorStateError, match="series"):
        run(replace(config, series="landsat"), progress=False)
    with pytest.raises(MonitorStateError, match="monitor start"):
        run(replace(config, monitor_start=dt.date(2023, 5, 1)), progress=False)
    assert published(config.out) == before
    result = run(replace(stricter, fresh=True), progress=False)
    assert result.manifest.status == "complete"
    (state,) = states(config.out).values()
    assert json.loads(state.attrs["params"])["threshold"] == -6.0


def test_fused_scheduled_runs_equal_one_run(tmp_path: Path) -> None:
    """Causal fusion (the default guide lookahead of 0) makes the fused record independent of
    where runs end."""
    aoi = write_aoi(tmp_path / "aoi.geojson", (24.450, 0.785, 24.455, 0.790))
    first = RunConfig(
        aoi=aoi,
        out=tmp_path / "scheduled",
        start=dt.date(2023, 1, 1),
        end=dt.date(2023, 8, 31),
        monitor_start=dt.date(2023, 6, 1),
    )
    run(first, progress=False)
    run(replace(first, end=dt.date(2023, 11, 30), monitor_start=None), progress=False)
    whole = replace(first, out=tmp_path / "whole", end=dt.date(2023, 11, 30))
    run(whole, progress=False)
    assert_same_alerts(first.out, whole.out)
    for name, state in states(first.out).items():
        xr.testing.assert_identical(state, states(whole.out)[name])
    # The fused dates of the second run are the same files as the whole run's.
    later = sorted(p.name for p in first.out.glob("*/fused/*.tif"))
    assert later and set(later) <= {p.name for p in whole.out.glob("*/fused/*.tif")}
    for name in later:
        (a,) = first.out.glob(f"*/fused/{name}")
        (b,) = whole.out.glob(f"*/fused/{name}")
        with rasterio.open(a) as fa, rasterio.open(b) as fb:
            np.testing.assert_array_equal(fa.read(), fb.read(), err_msg=name)


def _hiding(
    monkeypatch: pytest.MonkeyPatch, first: dt.date, last: dt.date
) -> Callable[[], list[str]]:
    """Make the tile searches leave out the Sentinel-2 items acquired from ``first`` to
    ``last``: a catalogue that has not received them yet. Returns the ids left out so far."""
    hidden: list[str] = []
    search = runner.search_tile

    def late_catalogue(*args: Any, **kwargs: Any) -> SearchResult:
        result = search(*args, **kwargs)
        keep = []
        for item in result.items["sentinel2"]:
            assert item.datetime is not None
            if first <= item.datetime.date() <= last:
                hidden.append(item.id)
            else:
                keep.append(item)
        return replace(result, items={**result.items, "sentinel2": keep})

    monkeypatch.setattr(runner, "search_tile", late_catalogue)
    return lambda: hidden


@pytest.mark.parametrize("late_days", [30.0, 0.0])
def test_scenes_reaching_the_catalogue_late_are_monitored_by_the_next_run(
    aoi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late_days: float
) -> None:
    config = RunConfig(
        aoi=aoi,
        out=tmp_path / "scheduled",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2023, 12, 31),
        monitor_start=dt.date(2023, 7, 1),
        late_days=late_days,
    )
    with monkeypatch.context() as patch:
        hidden = _hiding(patch, dt.date(2023, 12, 1), dt.date(2023, 12, 20))
        run(config, progress=False)
        assert hidden(), "the window holds Sentinel-2 scenes to publish late"
    # The next run finds them in the catalogue, older than scenes the first run processed.
    again = run(config, progress=False).manifest
    whole = replace(config, out=tmp_path / "whole")
    run(whole, progress=False)
    scheduled, once = states(config.out), states(whole.out)
    (name,) = once
    if late_days:
        assert again.status == "complete"
        assert again.tiles[0].monitor["replayed_from"] < "2023-12-01"
        assert_same_alerts(config.out, whole.out)
        xr.testing.assert_identical(scheduled[name], once[name])
        assert run(config, progress=False).manifest.status == "unchanged"
    else:  # no replay: the late scenes are lost
        assert again.status == "unchanged"
        assert scheduled[name]["valid_count"].sum() < once[name]["valid_count"].sum()


def test_report_series_of_a_scheduled_run_start_with_the_history(
    aoi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        outputs.append(process_tile(*args, **kwargs))
        return outputs[-1]

    process_tile = runner.process_tile
    monkeypatch.setattr(runner, "process_tile", spy)
    early = RunConfig(
        aoi=aoi,
        out=tmp_path / "out",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2024, 3, 31),
        monitor_start=dt.date(2023, 7, 1),
    )
    run(early, progress=False)
    run(replace(early, end=dt.date(2024, 6, 30), monitor_start=None), progress=False)
    first, second = outputs
    assert first.samples is not None and not first.samples.empty
    assert first.history is not None and not first.history.empty
    # The second run loaded only the scenes after the settled state, yet charts the pixels the
    # first run charted with their whole series: the first run's values, then its own.
    replayed = np.datetime64(second.record.monitor["replayed_from"])
    kept = first.history.set_index(["x", "y", "time"])["value"]
    charted = second.samples.set_index(["x", "y", "time"])["value"]
    before = charted[charted.index.get_level_values("time") <= replayed]
    assert len(before) > 0 and before.index.get_level_values("time").min() < np.datetime64(
        "2023-07-01"
    ), "the history period is charted"
    pd.testing.assert_series_equal(before, kept.loc[before.index])
    assert (charted.index.get_level_values("time") > replayed).any()
    assert list((tmp_path / "out" / "state").glob("*.series.parquet"))
