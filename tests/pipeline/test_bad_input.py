"""Bad input, one row per case: a clear error naming the input and the fix, or a documented
graceful result; and an error never touches the outputs of an earlier run in the folder.

Every case starts from a copy of one finished run's output folder (built once per module).
Published outputs are the files outside dot-folders: the lock file and a failed run's
staging folder (kept so a rerun can resume) are dot-entries by design.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
from shapely.geometry import box, mapping

from fusion.aoi import aoi_grid, read_aoi
from fusion.errors import (
    AOIError,
    AssetReadError,
    FusionError,
    ModelInputError,
    NoScenesError,
    OutputError,
    SkippedAssetWarning,
)
from fusion.export import cog as cog_module
from fusion.ingest import assets as ingest_assets
from fusion.ingest import load as load_module
from fusion.model.cli import fuse_files
from fusion.pipeline import RunConfig, RunResult, run, runner
from fusion.pipeline import tile as tile_module

pytestmark = pytest.mark.slow

START, END = dt.date(2023, 1, 1), dt.date(2023, 6, 30)
BOX = (24.450, 0.785, 24.465, 0.800)


def _geojson(path: Path, geometry: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(AOI, output folder of one finished Sentinel-2 run over it)."""
    folder = tmp_path_factory.mktemp("earlier")
    aoi = _geojson(folder / "aoi.geojson", mapping(box(*BOX)))
    out = folder / "out"
    run(_config(aoi, out, fresh=False), progress=False)
    return aoi, out


def _config(aoi: Path, out: Path, **changes: Any) -> RunConfig:
    # fresh: every case is processed from scratch (not "nothing new since the last run").
    values: dict[str, Any] = {
        "aoi": aoi,
        "out": out,
        "start": START,
        "end": END,
        "series": "sentinel2",
        "fresh": True,
    }
    return RunConfig(**{**values, **changes})


@dataclasses.dataclass
class Ctx:
    """What a case gets: a copy of the earlier outputs, a scratch folder, monkeypatch."""

    aoi: Path
    out: Path
    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    def config(self, **changes: Any) -> RunConfig:
        return _config(changes.pop("aoi", self.aoi), changes.pop("out", self.out), **changes)

    def tamper(self, change: Callable[[pystac.Item], None]) -> list[str]:
        """Apply ``change`` to the first Sentinel-2 item each search finds; the list fills
        with the ids of the changed items."""
        real = runner.search_items
        changed: list[str] = []

        def search(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            items = {s: [i.clone() for i in v] for s, v in result.items.items()}
            change(items["sentinel2"][0])
            changed.append(items["sentinel2"][0].id)
            return dataclasses.replace(result, items=items)

        self.monkeypatch.setattr(runner, "search_items", search)
        return changed


def expect_error(
    action: Callable[[], object], error: type[FusionError], *needles: str
) -> FusionError:
    """``action`` raises ``error`` with a one-line message holding every needle."""
    with pytest.raises(error) as info:
        action()
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return info.value


def _published(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)
    }


# --- the cases -------------------------------------------------------------------------------


def aoi_empty(ctx: Ctx) -> None:
    aoi = ctx.tmp / "empty.geojson"
    aoi.write_text("")
    expect_error(lambda: run(ctx.config(aoi=aoi), progress=False), AOIError, str(aoi), "empty")


def aoi_without_crs(ctx: Ctx) -> None:
    aoi = ctx.tmp / "nocrs.shp"
    gpd.GeoDataFrame(geometry=[box(215_500, 86_000, 218_000, 89_000)]).to_file(aoi)
    expect_error(
        lambda: run(ctx.config(aoi=aoi), progress=False),
        AOIError,
        str(aoi),
        "no coordinate reference system",
        "keep the .prj file",
    )


def aoi_unknown_crs(ctx: Ctx) -> None:
    aoi = ctx.tmp / "madeup.shp"
    gpd.GeoDataFrame(geometry=[box(215_500, 86_000, 218_000, 89_000)], crs="EPSG:32635").to_file(
        aoi
    )
    aoi.with_suffix(".prj").write_text(
        'PROJCS["made up",GEOGCS["nowhere",DATUM["none",SPHEROID["x",1,0]],PRIMEM["G",0],'
        'UNIT["degree",0.01745]],PROJECTION["No_Such_Projection"],UNIT["metre",1]]'
    )
    expect_error(
        lambda: run(ctx.config(aoi=aoi), progress=False),
        AOIError,
        str(aoi),
        "cannot be transformed to WGS 84",
        "re-export the AOI",
    )


def aoi_multipolygon_works(ctx: Ctx) -> None:
    west, south, east, north = BOX
    gap = (east - west) / 3
    parts = [box(west, south, west + gap, north), box(east - gap, south, east, north)]
    aoi = _geojson(
        ctx.tmp / "two.geojson",
        {"type": "MultiPolygon", "coordinates": [mapping(p)["coordinates"] for p in parts]},
    )
    result = run(ctx.config(aoi=aoi), progress=False)
    assert result.manifest.status == "complete" and result.manifest.aoi["tiles"] == 1
    with rasterio.open(next(ctx.out.glob("*/composite.tif"))) as src:
        red = src.read(3)
    columns = np.isfinite(red).mean(axis=0)
    third = red.shape[1] // 3
    assert columns[third + 5 : 2 * third - 5].max() == 0  # nothing between the two parts
    assert columns[:third].mean() > 0.5 and columns[2 * third :].mean() > 0.5


def aoi_huge(ctx: Ctx) -> None:
    aoi = _geojson(ctx.tmp / "basin.geojson", mapping(box(10, -10, 40, 10)))
    expect_error(
        lambda: run(ctx.config(aoi=aoi), progress=False),
        AOIError,
        str(aoi),
        "larger than one run takes",
        "split it into several AOIs",
    )


def aoi_across_antimeridian(ctx: Ctx) -> None:
    ring = [[179.5, 0.5], [-179.5, 0.5], [-179.5, 1.0], [179.5, 1.0], [179.5, 0.5]]
    aoi = _geojson(ctx.tmp / "dateline.geojson", {"type": "Polygon", "coordinates": [ring]})
    expect_error(
        lambda: run(ctx.config(aoi=aoi), progress=False),
        AOIError,
        str(aoi),
        "crosses the antimeridian",
        "split it at 180°",
    )


def aoi_split_at_antimeridian_works(ctx: Ctx) -> None:
    east = box(179.9, 0.5, 180.0, 0.6)
    west = box(-180.0, 0.5, -179.9, 0.6)
    aoi = _geojson(
        ctx.tmp / "split.geojson",
        {"type": "MultiPolygon", "coordinates": [mapping(p)["coordinates"] for p in (east, west)]},
    )
    tiles = aoi_grid(read_aoi(aoi))
    assert {t.crs.epsg for t in tiles} == {32660, 32601}  # UTM zones 60 and 1
    assert sum(t.geometry.area for t in tiles) == pytest.approx(2 * 11_100**2, rel=0.05)


def _truncated_copy(ctx: Ctx, href: str) -> Path:
    data = Path(href).read_bytes()
    bad = ctx.tmp / "truncated.tif"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def corrupt_cog_fails(ctx: Ctx) -> None:
    def corrupt(item: pystac.Item) -> None:
        item.assets["red"].href = str(_truncated_copy(ctx, item.assets["red"].href))

    changed = ctx.tamper(corrupt)
    error = expect_error(
        lambda: run(ctx.config(), progress=False),
        AssetReadError,
        str(ctx.tmp / "truncated.tif"),
        "'red'",
        "--on-missing skip",
    )
    assert f"item {changed[0]}:" in str(error)


def corrupt_cog_skipped(ctx: Ctx) -> None:
    def corrupt(item: pystac.Item) -> None:
        item.assets["scl"].href = str(_truncated_copy(ctx, item.assets["scl"].href))

    changed = ctx.tamper(corrupt)
    with pytest.warns(SkippedAssetWarning, match="left out: asset 'scl'"):
        result = run(ctx.config(on_missing="skip"), progress=False)
    item_id = changed[0]
    manifest = json.loads((ctx.out / "manifest.json").read_text())
    assert manifest["status"] == result.manifest.status == "partial"
    (skipped,) = manifest["skipped_assets"]
    assert skipped["item_id"] == item_id and skipped["asset"] == "scl"
    assert skipped["href"] == str(ctx.tmp / "truncated.tif") and skipped["error"]
    assert item_id not in {i["item_id"] for i in manifest["inputs"]}
    assert manifest["tiles"][0]["scenes"]["sentinel2"] == len(manifest["inputs"])


def asset_breaks_during_compute(ctx: Ctx) -> None:
    # Readable when checked, truncated by the time the compute reads it.
    def corrupt(item: pystac.Item) -> None:
        item.assets["blue"].href = str(_truncated_copy(ctx, item.assets["blue"].href))

    ctx.monkeypatch.setattr(ingest_assets, "open_asset", lambda href: None)
    changed = ctx.tamper(corrupt)
    error = expect_error(
        lambda: run(ctx.config(), progress=False),
        AssetReadError,
        str(ctx.tmp / "truncated.tif"),
        "'blue'",
        "during the compute",
        "restore it and rerun",
    )
    assert f"item {changed[0]}:" in str(error)


def missing_asset_fails(ctx: Ctx) -> None:
    gone = ctx.tmp / "deleted" / "B8A.tif"

    def delete(item: pystac.Item) -> None:
        item.assets["nir08"].href = str(gone)

    changed = ctx.tamper(delete)
    error = expect_error(
        lambda: run(ctx.config(), progress=False),
        AssetReadError,
        str(gone),
        "No such file",
        "--on-missing skip",
    )
    assert f"item {changed[0]}:" in str(error)


def fuse_wrong_band_count(ctx: Ctx) -> None:
    landsat = ctx.tmp / "four_bands.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 4, "dtype": "float32"}
    profile.update(crs="EPSG:32635", transform=rasterio.Affine(30, 0, 0, 0, -30, 240))
    with rasterio.open(landsat, "w", **profile) as dst:
        dst.write(np.zeros((4, 8, 8), "float32"))
    expect_error(
        lambda: fuse_files(landsat, None, ctx.out / "fused.tif"),
        ModelInputError,
        str(landsat),
        "4 bands, expected 6",
        "stack them in that order",
    )
    assert not (ctx.out / "fused.tif").exists()


def _all_masked(ctx: Ctx) -> RunResult:
    # Not pytest.warns: it records numpy's per-pixel "All-NaN slice" warnings too (100 000s).
    return run(ctx.config(), progress=False)


def all_cloud(ctx: Ctx) -> None:
    # Every pixel of every scene classified cloud (SCL 9).
    ctx.monkeypatch.setattr(
        load_module, "scl_invalid", lambda scl, **_: np.ones_like(scl, dtype=bool)
    )
    _check_nothing_seen(ctx, _all_masked(ctx))


def nan_tiles(ctx: Ctx) -> None:
    # Every scene reads as nodata over the tile (an AOI outside the scenes' data).
    real = tile_module.load_sensor

    def empty(*args: Any, **kwargs: Any) -> xr.Dataset:
        ds = real(*args, **kwargs)
        return ds.assign(
            reflectance=ds["reflectance"].where(False), valid_fraction=0.0 * ds["valid_fraction"]
        )

    ctx.monkeypatch.setattr(tile_module, "load_sensor", empty)
    _check_nothing_seen(ctx, _all_masked(ctx))


def _check_nothing_seen(ctx: Ctx, result: RunResult) -> None:
    """The documented result of a period without one clear pixel: a complete run whose
    composite is empty (NaN), valid-observation counts 0, no alerts, and a warning."""
    assert result.manifest.status == "complete"
    (tile,) = result.manifest.tiles
    assert tile.valid_observations == {"landsat": 0.0, "sentinel2": 0.0}
    assert any(
        f"tile {tile.id}: not one clear observation" in w for w in result.manifest.warnings
    ), result.manifest.warnings
    folder = ctx.out / tile.id
    with rasterio.open(folder / "composite.tif") as src:
        assert np.isnan(src.read()).all()
    with rasterio.open(folder / "valid_observations.tif") as src:
        assert src.read().max() == 0


def no_scenes_in_range(ctx: Ctx) -> None:
    expect_error(
        lambda: run(ctx.config(max_cloud=0.0), progress=False),
        NoScenesError,
        "no scenes",
        "between 2023-01-01 and 2023-06-30",
        "widen the dates or raise --max-cloud",
    )


def unwritable_output_folder(ctx: Ctx) -> None:
    # Root ignores permission bits: simulate the EACCES a normal user would get.
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.name.startswith(".staging-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    ctx.monkeypatch.setattr(Path, "mkdir", mkdir)
    expect_error(
        lambda: run(ctx.config(), progress=False),
        OutputError,
        str(ctx.out),
        "Permission denied",
        "choose another --out",
    )


def output_under_a_file(ctx: Ctx) -> None:
    blocker = ctx.tmp / "a-file"
    blocker.write_text("")
    expect_error(
        lambda: run(ctx.config(out=blocker / "out"), progress=False),
        OutputError,
        str(blocker / "out"),
        "not writable",
        "choose another --out",
    )


def disk_full_while_writing(ctx: Ctx) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    ctx.monkeypatch.setattr(cog_module, "cog_translate", full)
    expect_error(
        lambda: run(ctx.config(), progress=False),
        OutputError,
        str(ctx.out),
        "No space left on device",
        "free disk space",
    )


def disk_full_while_publishing(ctx: Ctx) -> None:
    real_replace = Path.replace

    def replace(self: Path, target: Any) -> Path:
        if ".staging-" in str(self) and ".staging-" not in str(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(self, target)

    ctx.monkeypatch.setattr(Path, "replace", replace)
    expect_error(
        lambda: run(ctx.config(), progress=False),
        OutputError,
        str(ctx.out),
        "No space left on device",
        "check free space",
    )


# (case, keeps the earlier outputs): graceful cases that complete publish a new run.
CASES: dict[str, tuple[Callable[[Ctx], None], bool]] = {
    "aoi-empty-file": (aoi_empty, True),
    "aoi-without-crs": (aoi_without_crs, True),
    "aoi-unknown-crs": (aoi_unknown_crs, True),
    "aoi-multipolygon-works": (aoi_multipolygon_works, False),
    "aoi-huge": (aoi_huge, True),
    "aoi-across-antimeridian": (aoi_across_antimeridian, True),
    "aoi-split-at-antimeridian-works": (aoi_split_at_antimeridian_works, True),
    "corrupt-cog-fails": (corrupt_cog_fails, True),
    "corrupt-cog-skipped-partial": (corrupt_cog_skipped, False),
    "missing-asset-fails": (missing_asset_fails, True),
    "asset-breaks-during-compute": (asset_breaks_during_compute, True),
    "fuse-wrong-band-count": (fuse_wrong_band_count, True),
    "all-cloud-scenes": (all_cloud, False),
    "nan-tiles": (nan_tiles, False),
    "no-scenes-in-range": (no_scenes_in_range, True),
    "unwritable-output-folder": (unwritable_output_folder, True),
    "output-under-a-file": (output_under_a_file, True),
    "disk-full-while-writing": (disk_full_while_writing, True),
    "disk-full-while-publishing": (disk_full_while_publishing, True),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
@pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")
def test_bad_input(
    name: str,
    earlier: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aoi, done = earlier
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = _published(out)
    assert before, "the earlier run published nothing"
    case, keeps_outputs = CASES[name]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    case(Ctx(aoi=aoi, out=out, tmp=scratch, monkeypatch=monkeypatch))
    if keeps_outputs:
        monkeypatch.undo()
        assert _published(out) == before
