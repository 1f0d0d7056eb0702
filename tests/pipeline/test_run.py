"""End to end on the demo world: outputs, manifest, truth, atomic publication, bad input."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box, mapping

from fusion.aoi import aoi_grid, read_aoi
from fusion.bands import CANONICAL_BANDS
from fusion.demo import demo_truth, ensure_demo_catalog
from fusion.errors import NoScenesError
from fusion.pipeline import RunConfig, run
from fusion.pipeline import tile as tile_module

START, END = dt.date(2023, 1, 1), dt.date(2023, 6, 30)


@pytest.fixture(scope="module")
def small_aoi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aoi") / "small.geojson"
    geometry = mapping(box(24.450, 0.785, 24.465, 0.800))  # about 1.7 × 1.7 km
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


@pytest.fixture(scope="module")
def finished(small_aoi: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Path]:
    out = tmp_path_factory.mktemp("run") / "out"
    config = RunConfig(aoi=small_aoi, out=out, start=START, end=END)
    run(config, progress=False)
    return config, out


def _tile_folder(out: Path) -> Path:
    (folder,) = [p.parent for p in out.glob("*/composite.tif")]
    return folder


@pytest.mark.slow
def test_outputs_are_valid_cogs_described_by_the_manifest(finished: tuple[RunConfig, Path]) -> None:
    _, out = finished
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["period"] == [str(START), str(END)]
    kinds = [o["kind"] for o in manifest["outputs"]]
    assert {"composite", "valid_observations", "fused", "fused_sigma", "stac"} <= set(kinds)
    # the default series is fused: one reflectance and one sigma COG per Landsat date
    (tile,) = manifest["tiles"]
    assert kinds.count("fused") == kinds.count("fused_sigma") == tile["scenes"]["landsat"]
    # and how the network adapted to each of them: the demo's guides are misregistered by a few
    # metres (a fraction of a Landsat pixel is undone); a tile this small (57 × 57 Landsat
    # pixels) is too small to refit the readout, so the learnt one is kept
    fusion = tile["fusion"]
    assert len(fusion) == tile["scenes"]["landsat"]
    adapted = [f for f in fusion if f["guide_shift_px"] is not None]
    assert adapted and all(max(map(abs, f["guide_shift_px"])) <= 1 for f in adapted)
    assert any(f["guide_shift_px"] != [0.0, 0.0] for f in adapted)
    assert all(f["readout"] == "learnt" and f["sigma_scale"] is None for f in adapted)
    for record in manifest["outputs"]:
        path = out / record["path"]
        assert path.stat().st_size == record["bytes"]
        if path.suffix == ".tif":
            assert cog_validate(path)[0], path
    with rasterio.open(_tile_folder(out) / "composite.tif") as src:
        assert src.crs.to_epsg() == 32635 and src.count == 6
        assert src.descriptions == CANONICAL_BANDS
        assert np.isnan(src.nodata)
        assert src.res == (10.0, 10.0)
        assert src.transform.c % 30 == 0 and src.transform.f % 30 == 0
    # provenance of every input: ids, hrefs, baselines; duplicates recorded; versions; timings
    sensors = {i["sensor"] for i in manifest["inputs"]}
    assert sensors == {"landsat", "sentinel2"}
    assert all(i["assets"] for i in manifest["inputs"])
    assert manifest["versions"]["odc-stac"]
    assert manifest["timings_s"]["read + fuse + detect"] > 0
    assert not list(out.glob(".staging-*"))


@pytest.mark.slow
def test_composite_matches_the_simulated_truth(finished: tuple[RunConfig, Path]) -> None:
    config, out = finished
    (tile,) = aoi_grid(read_aoi(config.aoi))
    world = ensure_demo_catalog(tile.geobox, start=START, end=END)
    first, last = (
        demo_truth(world, day).odc.reproject(tile.geobox, resampling="nearest").values
        for day in (START, END)
    )
    with rasterio.open(_tile_folder(out) / "composite.tif") as src:
        composite = src.read()
    # Compare at 30 m: half the observations are Landsat, which cannot hold 10 m texture.
    composite, truth, later = (_block_mean(a) for a in (composite, first, last))
    unchanged = np.abs(truth - later).max(axis=0) < 0.01  # no clearing or crop cycle
    valid = np.isfinite(composite).all(axis=0) & unchanged
    assert valid.mean() > 0.5, "most of the AOI should have a composite"
    for index, band in enumerate(CANONICAL_BANDS):
        error = np.median(np.abs(composite[index][valid] - truth[index][valid]))
        scale = np.median(truth[index][valid])
        # within sensor noise and the thin haze the simulator leaves unmasked (≤ 0.01 blue)
        assert error < max(0.007, 0.05 * scale), (band, error, scale)


def _block_mean(values: np.ndarray) -> np.ndarray:
    bands, height, width = values.shape
    blocks = values[:, : height // 3 * 3, : width // 3 * 3]
    return blocks.reshape(bands, height // 3, 3, width // 3, 3).mean(axis=(2, 4))


@pytest.mark.slow
def test_failed_run_leaves_earlier_outputs_intact(
    finished: tuple[RunConfig, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, out = finished
    config = replace(config, fresh=True)  # a real rerun, not "nothing new"

    def published() -> dict[Path, bytes]:
        return {
            p: p.read_bytes()
            for p in out.rglob("*")
            if p.is_file() and not p.relative_to(out).parts[0].startswith(".")
        }

    before = published()

    def broken_write(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tile_module, "write_cog", broken_write)
    with pytest.raises(OSError):
        run(config, progress=False)
    assert published() == before
    monkeypatch.undo()
    # The failed run's staging folder is left for a resume; the next run completes.
    run(config, progress=False)
    assert not list(out.glob(".staging-*"))
    assert set(published()) == set(before)


def test_no_scenes_in_range_is_a_clear_error_and_writes_nothing(
    small_aoi: Path, tmp_path: Path
) -> None:
    # Landsat passes every 8 days and Sentinel-2 every 5: one day can hold none.
    day = dt.date(2023, 3, 5)
    config = RunConfig(aoi=small_aoi, out=tmp_path / "o", start=day, end=day, series="landsat")
    try:
        run(config, progress=False)
    except NoScenesError as exc:
        assert "no scenes" in str(exc) and "widen the dates" in str(exc)
        assert not any((tmp_path / "o").rglob("*.tif"))
    else:  # that day happened to have a Landsat pass: then a day with no pass at all
        pytest.fail(f"{day} has a Landsat acquisition in the demo world; pick another day")


def test_adaptation_record_per_fused_date() -> None:
    import xarray as xr

    from fusion.model.adapt import ESTIMATES

    values = np.full((3, len(ESTIMATES)), np.nan)
    values[0] = [0.25, -0.125, 0.9, 0.8, 0.7, 0.6, 0.5, 1.0]  # shift undone, readout refitted
    values[1, :2] = [0.0, 0.0]  # adapted, learnt readout kept
    times = np.array(["2023-01-05", "2023-01-13", "2023-01-21"], "datetime64[ns]")
    computed = xr.Dataset(
        {"fused:adaptation": (("fused:time", "estimate"), values)},
        coords={"estimate": list(ESTIMATES)},
    )
    fused = xr.Dataset(coords={"time": times, "item_id": ("time", ["a", "b", "c"])})
    first, second, third = tile_module._adaptation_record(computed, fused)
    assert first == {
        "item_id": "a",
        "date": "2023-01-05",
        "guide_shift_px": [0.25, -0.125],
        "readout": "refitted",
        "sigma_scale": dict(zip(CANONICAL_BANDS, [0.9, 0.8, 0.7, 0.6, 0.5, 1.0], strict=True)),
    }
    assert second["guide_shift_px"] == [0.0, 0.0] and second["readout"] == "learnt"
    assert second["sigma_scale"] is None
    assert third["guide_shift_px"] is None and third["readout"] is None  # no guide
