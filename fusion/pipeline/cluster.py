"""Where a run's dask graphs execute: a Dask distributed cluster, or dask's threaded scheduler.

The graph is built the same way for every scheduler and gives bitwise the same outputs.

- Default: a distributed ``LocalCluster`` sized to the machine, in this process (one worker
  with a thread per core). The work (GDAL reads, numpy, torch) releases the GIL, so threads
  share the cores without pickling the graph or moving chunks between processes, and the
  loaded network is shared; the cluster adds the distributed scheduler's memory management
  (spill to disk, pause), its dashboard (with bokeh) and the same code path as a remote
  cluster. Its price is the scheduler's time per task: a tile's graph holds about 5,000 tasks
  (the demo AOI), and on two cores the demo run took 61 s against 48 s on threads.
- ``--scheduler threads``: dask's threaded scheduler, no cluster: the fastest on a small
  machine.
- ``--scheduler local``: a ``LocalCluster`` of worker processes (about two threads each),
  which adds per-worker memory limits with restarts and resilience to a crashed worker, at the
  price of pickling the graph and moving results between processes.
- ``--scheduler ADDRESS`` (or ``DASK_SCHEDULER_ADDRESS``, which dask maps to its
  ``scheduler-address`` setting) sends the graphs to an existing cluster.

``FUSION_SCHEDULER`` sets the default of ``--scheduler`` (e.g. ``threads`` for a machine's
scheduled runs). Workers get their settings explicitly (:class:`WorkerSettings`) instead of
inheriting them by chance from however they were started.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Final

import dask
from distributed import Client, LocalCluster, WorkerPlugin

from fusion.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Worker

log = logging.getLogger("fusion.pipeline")

LOCAL: Final = "local"
"""``--scheduler local``: a LocalCluster of worker processes for the duration of the run."""
THREADS: Final = "threads"
"""``--scheduler threads``: dask's threaded scheduler in this process, no cluster."""
ENV_DEFAULT: Final = "FUSION_SCHEDULER"
"""Environment variable holding the default of ``--scheduler``."""

GDAL_DEFAULTS: Final[Mapping[str, str]] = {
    # A block cache per worker process (GDAL's default is 5 % of RAM per process, which N
    # worker processes on one machine multiply); MB.
    "GDAL_CACHEMAX": "256",
    # Cloud-native reads: no sibling-file listing per open, retries on transient HTTP errors
    # (odc-stac's cloud defaults; STAC asset hosts answer 429/5xx under load).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "10",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
}

_FORWARDED_PREFIXES: Final = ("FUSION_", "GDAL_", "CPL_", "VSI_")
# Paths of this machine's installation: a worker elsewhere has its own (odc-stac skips it too).
_NOT_FORWARDED: Final = ("GDAL_DATA", "GDAL_DRIVER_PATH")
# Non-secret AWS settings only: credentials come from the workers' own environment (instance
# role, service account), never shipped over the cluster's connection.
_FORWARDED_AWS: Final = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_REQUEST_PAYER",
    "AWS_NO_SIGN_REQUEST",
)


class WorkerSettings(WorkerPlugin):
    """A worker plugin giving every worker the run's environment.

    ``env`` goes into the worker's ``os.environ`` (GDAL reads its configuration there;
    ``FUSION_CACHE_DIR`` and the like reach the code the tasks run); ``GDAL_CACHEMAX`` is also
    set as a GDAL option since GDAL sizes its cache on first use. Each dask thread runs torch
    on ``torch_threads`` threads (1, as in the threaded path and as distributed sets
    ``OMP_NUM_THREADS``): torch's default (all cores) in each of a worker's threads
    oversubscribes the machine several-fold.
    """

    name = "fusion-worker-settings"
    idempotent = False  # a later run re-registers: its settings replace the earlier ones

    def __init__(self, env: Mapping[str, str], *, torch_threads: int | None) -> None:
        self.env = dict(env)
        self.torch_threads = torch_threads

    def setup(self, worker: Worker) -> None:
        """Apply the settings in the worker process (runs when a worker joins, too)."""
        import rasterio.env

        os.environ.update(self.env)
        cache = self.env.get("GDAL_CACHEMAX", "")
        if cache.isdigit():  # MB; a percentage ("10%") reaches GDAL through the environment
            rasterio.env.set_gdal_config("GDAL_CACHEMAX", int(cache))
        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)

    def teardown(self, worker: Worker) -> None:
        """Nothing to undo: the settings last as long as the worker process."""


def worker_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables workers get: GDAL defaults, overridden by this process's FUSION_*,
    GDAL_*, CPL_*, VSI_* and non-secret AWS_* settings."""
    environ = os.environ if environ is None else environ
    env = dict(GDAL_DEFAULTS)
    env.update(
        {
            k: v
            for k, v in environ.items()
            if (k.startswith(_FORWARDED_PREFIXES) and k not in _NOT_FORWARDED)
            or k in _FORWARDED_AWS
        }
    )
    return env


def resolve_address(scheduler: str | None) -> str | None:
    """``scheduler``, else dask's ``scheduler-address`` (``DASK_SCHEDULER_ADDRESS``), else
    ``FUSION_SCHEDULER``, else None (the default in-process cluster)."""
    address = str(
        scheduler or dask.config.get("scheduler-address", None) or os.environ.get(ENV_DEFAULT) or ""
    ).strip()
    return address or None


@contextmanager
def dask_client(scheduler: str | None, *, torch: bool = False) -> Iterator[Client | None]:
    """Make the run's computations go to ``scheduler``; yields the client (None: threads).

    ``scheduler`` is a cluster address (``tcp://host:8786``), ``local`` (a LocalCluster of
    worker processes), ``threads`` (no cluster) or None (``DASK_SCHEDULER_ADDRESS``, else
    ``FUSION_SCHEDULER``, else a LocalCluster in this process); a cluster started here is
    closed afterwards. ``torch``: the graphs run the fusion network (set its threads).
    """
    address = resolve_address(scheduler)
    if address == THREADS:
        yield None
        return
    if address is None:
        # No worker plugin: the worker is this process, whose settings the threaded path uses
        # as they are (and the runner sets torch's threads).
        with _local_client(1, max(1, dask.system.CPU_COUNT), processes=False) as client:
            yield client
        return
    plugin = WorkerSettings(worker_env(), torch_threads=1 if torch else None)
    if address == LOCAL:
        workers, threads = local_layout(dask.system.CPU_COUNT)
        with _local_client(workers, threads, processes=True, plugin=plugin) as client:
            yield client
        return
    try:
        client = Client(address)  # timeout: distributed.comm.timeouts.connect
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"scheduler {address}: cannot connect ({exc}); start the cluster, fix --scheduler or "
            "DASK_SCHEDULER_ADDRESS, or leave both unset to run on this machine"
        ) from exc
    with client:
        client.register_plugin(plugin)
        log.info(
            "running on the Dask cluster at %s (dashboard: %s)", address, client.dashboard_link
        )
        yield client


@contextmanager
def _local_client(
    workers: int, threads: int, *, processes: bool, plugin: WorkerPlugin | None = None
) -> Iterator[Client]:
    """A LocalCluster for the duration of the run, and its client."""
    where = "worker processes" if processes else "this process"
    log.info("starting a Dask cluster in %s: %d × %d threads", where, workers, threads)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=processes,
            # The dashboard needs bokeh (optional); any free port, never a fixed one.
            dashboard_address=":0" if find_spec("bokeh") else None,
        ) as cluster,
        Client(cluster) as client,
    ):
        if plugin is not None:
            client.register_plugin(plugin)
        if find_spec("bokeh"):
            log.info("Dask dashboard: %s", client.dashboard_link)
        yield client


def local_layout(cores: int) -> tuple[int, int]:
    """Workers and threads per worker of ``--scheduler local``: about two threads per process.

    One process with all cores as threads is what the threaded scheduler already does; one
    single-threaded process per core gives every process its own copy of the network and of
    GDAL's cache and pickles every chunk between them. Two threads per process keeps most
    data exchange in-process while a stalled or crashed worker takes only two cores with it.
    """
    cores = max(1, cores)
    threads = 2 if cores >= 4 else 1
    return max(1, cores // threads), threads
