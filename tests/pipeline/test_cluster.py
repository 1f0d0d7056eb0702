"""Choosing the scheduler of a run, and the settings workers get (no cluster started here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask
import pytest
from rasterio.env import get_gdal_config, set_gdal_config
from shapely.geometry import box, mapping

from fusion.cli import EXIT_FAILED, main
from fusion.errors import ConfigError
from fusion.pipeline.cluster import (
    GDAL_DEFAULTS,
    WorkerSettings,
    dask_client,
    local_layout,
    resolve_address,
    worker_env,
)

AOI = box(24.450, 0.785, 24.4575, 0.7925)


def test_threads_means_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.delenv("FUSION_SCHEDULER", raising=False)
    with dask.config.set({"scheduler-address": None}):
        # No address at all: dask_client starts a LocalCluster in this process (tested with a
        # run in tests/pipeline/test_distributed.py).
        assert resolve_address(None) is None
        monkeypatch.setenv("FUSION_SCHEDULER", "threads")
        assert resolve_address(None) == "threads"
        with dask_client(None) as client:
            assert client is None
            assert dask.config.get("scheduler", None) != "dask.distributed"


def test_address_from_dask_config_or_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSION_SCHEDULER", "threads")
    # DASK_SCHEDULER_ADDRESS reaches dask's config as scheduler-address.
    with dask.config.set({"scheduler-address": "tcp://127.0.0.1:8786"}):
        assert resolve_address(None) == "tcp://127.0.0.1:8786"
        assert resolve_address("local") == "local"
        assert resolve_address(None) == "tcp://127.0.0.1:8786"  # before FUSION_SCHEDULER
        assert resolve_address("threads") == "threads"
    assert resolve_address("  tcp://127.0.0.1:9999 ") == "tcp://127.0.0.1:9999"


def test_unreachable_scheduler_is_a_config_error() -> None:
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}),
        pytest.raises(ConfigError, match=r"scheduler tcp://127\.0\.0\.1:9: cannot connect"),
        dask_client("tcp://127.0.0.1:9"),
    ):
        pass


def test_worker_env_forwards_fusion_and_gdal_but_no_credentials() -> None:
    env = worker_env(
        {
            "FUSION_CACHE_DIR": "/data/cache",
            "GDAL_CACHEMAX": "1024",
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
            "AWS_REQUEST_PAYER": "requester",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "HOME": "/root",
            "GDAL_DATA": "/usr/share/gdal",
        }
    )
    assert env["FUSION_CACHE_DIR"] == "/data/cache"
    assert env["GDAL_CACHEMAX"] == "1024"  # the user's setting wins over the default
    assert env["GDAL_HTTP_MAX_RETRY"] == GDAL_DEFAULTS["GDAL_HTTP_MAX_RETRY"]
    assert env["AWS_REQUEST_PAYER"] == "requester"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "HOME" not in env
    assert "GDAL_DATA" not in env  # this machine's installation path


def test_worker_settings_apply_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("FUSION_PLUGIN_PROBE", raising=False)
    before, cache = torch.get_num_threads(), get_gdal_config("GDAL_CACHEMAX")
    monkeypatch.setenv("GDAL_CACHEMAX", os.environ.get("GDAL_CACHEMAX", ""))
    try:
        settings = {"FUSION_PLUGIN_PROBE": "1", "GDAL_CACHEMAX": "96"}
        WorkerSettings(settings, torch_threads=1).setup(None)  # type: ignore[arg-type]
        assert os.environ["FUSION_PLUGIN_PROBE"] == "1"
        assert get_gdal_config("GDAL_CACHEMAX") == 96
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        set_gdal_config("GDAL_CACHEMAX", cache)


def test_local_layout_uses_every_core() -> None:
    assert local_layout(1) == (1, 1)
    assert local_layout(2) == (2, 1)
    assert local_layout(16) == (8, 2)
    for cores in range(1, 33):
        workers, threads = local_layout(cores)
        assert cores - 1 <= workers * threads <= cores


def test_cli_scheduler_option_reaches_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(AOI)}))
    out = tmp_path / "out"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}),
        pytest.raises(SystemExit) as info,
    ):
        main(["run", "--aoi", str(aoi), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    assert info.value.code == EXIT_FAILED
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: scheduler tcp://127.0.0.1:9: cannot connect")
    assert "DASK_SCHEDULER_ADDRESS" in lines[-1]
    assert not out.exists() or not any(out.iterdir())  # refused before anything was written
