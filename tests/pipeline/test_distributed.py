"""The same run on a Dask distributed cluster: identical outputs, and it survives a lost worker.

A real two-process LocalCluster (one thread each), the Sentinel-2 series of a small demo AOI
over nine months.
Outputs are compared bitwise (NaN = NaN): the graph, its chunks and the numpy operations in
every task are the same whichever scheduler runs them, and dask's reductions have a fixed
tree, so nothing may differ, not even in the last bit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from distributed import Client, LocalCluster, Scheduler, SchedulerPlugin
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from shapely.geometry import box, mapping

from fusion.bands import CANONICAL_BANDS
from fusion.model.fuse import fuse
from fusion.pipeline import RunConfig, run
from fusion.pipeline import cluster as cluster_module
from fusion.pipeline.cluster import GDAL_DEFAULTS, dask_client, local_layout

pytestmark = pytest.mark.slow

AOI = box(24.450, 0.785, 24.4575, 0.7925)  # 84 × 84 pixels


class _KillAfter(SchedulerPlugin):
    """SIGKILLs the worker holding the ``after``-th finished result, once, while work remains."""

    def __init__(self, scheduler: Scheduler, pids: dict[str, int], after: int) -> None:
        self.scheduler = scheduler
        self.pids = pids
        self.after = after
        self.finished = 0
        self.killed: int | None = None
        self.pending_at_kill = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish != "memory" or self.killed is not None:
            return
        self.finished += 1
        if self.finished < self.after:
            return
        (holder, *_) = self.scheduler.tasks[key].who_has or [None]
        if holder is None:
            return
        self.pending_at_kill = sum(
            ts.state in ("waiting", "queued", "processing", "no-worker")
            for ts in self.scheduler.tasks.values()
        )
        self.killed = self.pids[holder.address]
        os.kill(self.killed, signal.SIGKILL)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A demo cache, an AOI, the threaded run's outputs and a running two-worker cluster."""
    folder = tmp_path_factory.mktemp("distributed")
    aoi = folder / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(AOI)}))
    with pytest.MonkeyPatch.context() as mp:
        # Module fixtures run before conftest's per-test cache fixture: share its folder.
        mp.setenv("FUSION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fusion-cache"))
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        config = RunConfig(
            aoi=aoi,
            out=folder / "threads",
            # Nine months (about 50 Sentinel-2 scenes, 5000 tasks): on a cluster every task
            # costs a few milliseconds of scheduling, so the graph is kept small.
            start=dt.date(2023, 1, 1),
            end=dt.date(2023, 9, 30),
            series="sentinel2",
        )
        reference = run(config, progress=False)
        # The scheduler lives in this process: its settings come from this process's config.
        with (
            dask.config.set({"distributed.scheduler.allowed-failures": 10}),
            LocalCluster(
                n_workers=2,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
                memory_limit="3GiB",
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            # Set after the workers started: only the run's worker plugin can bring it there.
            mp.setenv("FUSION_WORKER_MARKER", "from-the-client")
            yield {
                "config": config,
                "reference": reference,
                "cluster": cluster,
                "client": client,
                "folder": folder,
            }


def _rasters(out: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for path in sorted(out.glob("*/**/*.tif")):
        with rasterio.open(path) as src:
            arrays[str(path.relative_to(out))] = src.read()
    return arrays


def _assert_same_outputs(out: Path, reference: Path) -> None:
    got, expected = _rasters(out), _rasters(reference)
    assert sorted(got) == sorted(expected)
    assert {"composite.tif", "confidence.tif", "alert_date.tif"} <= {Path(p).name for p in got}
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        np.testing.assert_array_equal(got[name], values, err_msg=name)  # NaN equals NaN


def _alerts(manifest: Any) -> list[Any]:
    return [tile.alerts for tile in manifest.tiles]


def test_cluster_run_matches_threaded_run(setup: dict[str, Any]) -> None:
    cluster, client = setup["cluster"], setup["client"]
    counter = _KillAfter(cluster.scheduler, {}, after=10**9)  # counts finished tasks, never kills
    cluster.scheduler.add_plugin(counter, name="count")
    config = replace(
        setup["config"], out=setup["folder"] / "cluster", scheduler=cluster.scheduler_address
    )
    try:
        result = run(config, progress=True)
    finally:
        cluster.scheduler.remove_plugin(name="count")
    assert counter.finished > 50  # the computations ran on the cluster
    _assert_same_outputs(result.out, setup["reference"].out)
    assert _alerts(result.manifest) == _alerts(setup["reference"].manifest)
    assert result.manifest.parameters["scheduler"] == cluster.scheduler_address
    # The run's worker plugin put its settings on every worker.
    env = client.run(
        lambda: {
            k: os.environ.get(k)
            for k in ("GDAL_CACHEMAX", "FUSION_WORKER_MARKER", "FUSION_CACHE_DIR")
        }
    )
    for worker_env in env.values():
        assert worker_env["GDAL_CACHEMAX"] == GDAL_DEFAULTS["GDAL_CACHEMAX"]
        assert worker_env["FUSION_WORKER_MARKER"] == "from-the-client"
        assert worker_env["FUSION_CACHE_DIR"] == os.environ["FUSION_CACHE_DIR"]
    # The run's client is gone and the default scheduler is threads again.
    assert dask.config.get("scheduler", None) != "dask.distributed"


def test_default_run_is_a_cluster_in_this_process_sized_to_the_machine(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUSION_SCHEDULER", raising=False)
    started: list[tuple[dict[str, Any], _KillAfter]] = []

    def recording(**kwargs: Any) -> LocalCluster:
        cluster = LocalCluster(**kwargs)
        counter = _KillAfter(cluster.scheduler, {}, after=10**9)  # counts, never kills
        cluster.scheduler.add_plugin(counter, name="count")
        started.append((kwargs, counter))
        return cluster

    monkeypatch.setattr(cluster_module, "LocalCluster", recording)
    result = run(replace(setup["config"], out=setup["folder"] / "default"), progress=False)
    ((kwargs, counter),) = started
    assert kwargs["processes"] is False and kwargs["n_workers"] == 1
    assert kwargs["threads_per_worker"] == dask.system.CPU_COUNT
    assert counter.finished > 50  # the computations ran on it
    _assert_same_outputs(result.out, setup["reference"].out)
    assert dask.config.get("scheduler", None) != "dask.distributed"  # closed with the run


def _scene(h: int, w: int) -> tuple[xr.DataArray, xr.DataArray]:
    """Landsat-like reflectance (h, w) at 30 m and a Sentinel-2-like guide (3h, 3w) at 10 m."""
    rng = np.random.default_rng(7)
    base = np.array([0.03, 0.06, 0.05, 0.3, 0.18, 0.1], np.float32)[:, None, None]
    guide = (base * (1 + 0.3 * rng.standard_normal((6, 3 * h, 3 * w)))).astype(np.float32)
    landsat = guide.reshape(6, h, 3, w, 3).mean(axis=(2, 4))
    g30 = GeoBox((h, w), Affine(30, 0, 300_060, 0, -30, 9_900_090 + 30 * h), "EPSG:32734")

    def wrap(values: np.ndarray, gbox: GeoBox) -> xr.DataArray:
        coords = dict(xr_coords(gbox, crs_coord_name="spatial_ref"))
        return xr.DataArray(values, dims=("band", "y", "x"), coords=coords).assign_coords(
            band=list(CANONICAL_BANDS)
        )

    return wrap(landsat, g30), wrap(guide, g30.zoom_to((3 * h, 3 * w)))


def test_fusion_network_on_workers(setup: dict[str, Any]) -> None:
    """The shipped weights load in the worker processes (by path, once per process).

    Compared within 1e-6, not bitwise: workers run torch on one thread, this process on
    several, and oneDNN's convolutions sum in another order with another thread count.
    """
    cluster, client = setup["cluster"], setup["client"]
    landsat, guide = _scene(36, 30)
    lazy = fuse(landsat.chunk({"y": 12, "x": 15}), guide, guide_dt_days=5)
    expected = lazy.compute(scheduler="threads")
    with dask_client(cluster.scheduler_address, torch=True) as run_client:
        assert run_client is not None
        got = lazy.compute()  # the run's client is the default scheduler here
        threads = client.run(lambda: __import__("torch").get_num_threads())
    assert set(threads.values()) == {1}  # one torch thread per dask thread
    for name in ("reflectance", "sigma"):
        np.testing.assert_allclose(got[name].values, expected[name].values, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got["observed"].values, expected["observed"].values)


def test_run_survives_a_killed_worker(setup: dict[str, Any]) -> None:
    cluster, client = setup["cluster"], setup["client"]
    pids: dict[str, int] = client.run(os.getpid)
    killer = _KillAfter(cluster.scheduler, pids, after=40)
    cluster.scheduler.add_plugin(killer, name="kill")
    config = replace(
        setup["config"], out=setup["folder"] / "killed", scheduler=cluster.scheduler_address
    )
    try:
        result = run(config, progress=False)
    finally:
        cluster.scheduler.remove_plugin(name="kill")
    assert killer.killed in pids.values()
    assert killer.pending_at_kill > 0  # killed mid-run, not after the last task
    client.wait_for_workers(2, timeout=30)
    assert killer.killed not in client.run(os.getpid).values()  # the nanny started a new one
    _assert_same_outputs(result.out, setup["reference"].out)
    assert _alerts(result.manifest) == _alerts(setup["reference"].manifest)


def test_local_cluster_for_the_run() -> None:
    """``--scheduler local``: a LocalCluster sized to the machine, default while the run lasts."""
    with dask_client("local") as client:
        assert client is not None
        workers = client.scheduler_info()["workers"]
        assert len(workers) == local_layout(dask.system.CPU_COUNT)[0]
        assert dask.config.get("scheduler") == "dask.distributed"
        assert int(da.ones(10, chunks=5).sum().compute()) == 10
        cache = client.run(lambda: os.environ.get("GDAL_CACHEMAX"))
        assert set(cache.values()) == {GDAL_DEFAULTS["GDAL_CACHEMAX"]}
    assert dask.config.get("scheduler", None) != "dask.distributed"
