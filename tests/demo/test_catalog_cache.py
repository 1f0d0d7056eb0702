"""Determinism of the simulator and the cache: reuse, atomic generation, stale leftovers."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from demo_helpers import SMALL_AOI, item_documents
from odc.geo.geobox import GeoBox

import fusion.demo.catalog as catalog_module
from fusion.demo import DemoCatalog, DemoConfig, default_cache_dir, demo_truth, ensure_demo_catalog
from fusion.demo.catalog import MANIFEST, cache_key
from fusion.errors import AOIError, ConfigError

TINY_AOI = GeoBox.from_bbox((216_000, 87_000, 216_900, 87_900), crs="EPSG:32635", resolution=10)
DAY0, DAY1 = dt.date(2023, 6, 1), dt.date(2023, 6, 20)
TINY = DemoConfig(margin_m=120, history_days=5, end_buffer_days=2)


def _make(cache: Path, seed: int = 1) -> DemoCatalog:
    return ensure_demo_catalog(
        TINY_AOI, start=DAY0, end=DAY1, seed=seed, cache_dir=cache, config=TINY
    )


def _pixels(catalog: DemoCatalog) -> dict[str, str]:
    """Hash of the decoded pixels of every raster, by path relative to the root."""
    out = {}
    for path in sorted(catalog.root.rglob("*.[tT][iI][fF]")):
        with rasterio.open(path) as src:
            out[str(path.relative_to(catalog.root))] = hashlib.sha256(
                src.read().tobytes()
            ).hexdigest()
    return out


def _items(catalog: DemoCatalog) -> list[str]:
    root = str(catalog.root)
    return [str(doc).replace(root, "<root>") for doc in item_documents(catalog)]


def test_same_seed_same_world_different_seed_different(tmp_path: Path) -> None:
    first, second = _make(tmp_path / "a"), _make(tmp_path / "b")
    assert first.root.name == second.root.name
    assert _pixels(first) == _pixels(second)
    assert _items(first) == _items(second)
    other = _make(tmp_path / "c", seed=2)
    assert other.root.name != first.root.name
    a, c = _pixels(first), _pixels(other)
    assert a["truth/base_reflectance.tif"] != c["truth/base_reflectance.tif"]
    assert _items(first) != _items(other)


def test_cache_is_reused(tmp_path: Path) -> None:
    first = _make(tmp_path)
    stamp = (first.root / MANIFEST).stat().st_mtime_ns
    began = time.perf_counter()
    again = _make(tmp_path)
    assert time.perf_counter() - began < 0.5
    assert again == first and (again.root / MANIFEST).stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.root.name]


def test_default_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FUSION_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "demo"
    monkeypatch.delenv("FUSION_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "fusion" / "demo"


def test_interrupted_generation_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(work: Path, *args: object, **kwargs: object) -> None:
        (work / "half-written.tif").parent.mkdir(parents=True)
        (work / "half-written.tif").write_bytes(b"II*")
        raise KeyboardInterrupt

    monkeypatch.setattr(catalog_module, "generate", broken)
    with pytest.raises(KeyboardInterrupt):
        _make(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftover_of_a_dead_generation_is_replaced(tmp_path: Path) -> None:
    key = cache_key(TINY_AOI, start=DAY0, end=DAY1, seed=1, config=TINY)
    # A process that died mid-generation (its pid no longer exists) left a partial folder.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = tmp_path / f".tmp-{key}-{dead.stdout.strip()}-deadbeef"
    (leftover / "truth").mkdir(parents=True)
    (leftover / "items.parquet").write_bytes(b"not parquet")
    catalog = _make(tmp_path)
    assert not leftover.exists()
    assert catalog.root == tmp_path / key and (catalog.root / MANIFEST).is_file()
    assert catalog.items_parquet.stat().st_size > 1000
    # A folder without a manifest at the final name is not trusted either.
    (catalog.root / MANIFEST).unlink()
    assert (_make(tmp_path).root / MANIFEST).is_file()


def test_live_generation_of_another_process_is_left_alone(tmp_path: Path) -> None:
    key = cache_key(TINY_AOI, start=DAY0, end=DAY1, seed=1, config=TINY)
    busy = tmp_path / f".tmp-{key}-{os.getppid()}-cafecafe"
    busy.mkdir()
    _make(tmp_path)
    assert busy.exists()


def test_rejects_grids_and_periods_it_cannot_simulate(tmp_path: Path) -> None:
    shifted = GeoBox.from_bbox((216_010, 87_000, 216_910, 87_900), crs="EPSG:32635", resolution=10)
    with pytest.raises(AOIError, match="multiples of 30 m"):
        ensure_demo_catalog(shifted, start=DAY0, end=DAY1, cache_dir=tmp_path)
    geographic = GeoBox.from_bbox((24.4, 0.7, 24.5, 0.8), crs="EPSG:4326", resolution=0.0001)
    with pytest.raises(AOIError, match="UTM"):
        ensure_demo_catalog(geographic, start=DAY0, end=DAY1, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="end is before start"):
        ensure_demo_catalog(SMALL_AOI, start=DAY1, end=DAY0, cache_dir=tmp_path)


def test_world_covers_the_aoi_with_a_margin(tmp_path: Path) -> None:
    catalog = _make(tmp_path)
    x0, y0, x1, y1 = TINY_AOI.boundingbox
    w0, v0, w1, v1 = catalog.geobox.boundingbox
    assert w0 <= x0 - 120 and v0 <= y0 - 120 and w1 >= x1 + 120 and v1 >= y1 + 120
    assert all(v % 60 == 0 for v in (w0, v0, w1, v1))
    truth = np.asarray(demo_truth(catalog, DAY0))
    assert truth.shape == (6, catalog.geobox.shape.y, catalog.geobox.shape.x)


def test_a_period_without_passes_gives_an_empty_index(tmp_path: Path) -> None:
    day = dt.date(2023, 6, 2)  # no Landsat or Sentinel-2 pass on this day
    catalog = ensure_demo_catalog(TINY_AOI, start=day, end=day, cache_dir=tmp_path, config=TINY)
    table = pq.read_table(catalog.items_parquet)
    assert table.num_rows == 0 and {"id", "collection", "datetime", "geometry"} <= set(
        table.column_names
    )
    assert demo_truth(catalog, day).shape == (6, catalog.geobox.shape.y, catalog.geobox.shape.x)
