"""Benchmark: does a run scale with the AOI? Wall time and peak memory at 1×, 4× and 16× the area.

A run holds one tile's results at a time and computes a tile chunk by chunk, so memory should
not grow with the AOI and time should grow linearly with it. The AOIs are squares of 1, 2×2
and 4×4 cells of ``--cell-m`` (small, so that 16× fits in minutes on two cores) on the UTM
grid. Two variants run over the same AOIs:

- ``tiled``: the run's tiles are the cells (``tile_size_m`` = ``--cell-m``), so a 1× run is
  one whole tile and a 16× run sixteen; this is what the targets judge;
- ``default``: the default tile size (about 5 km): the 4× and 16× AOIs span several tiles;
- ``single_tile``: 15 km tiles: every AOI is one tile, growing with the scale, which shows
  what a tile costs as it grows.

Each run is ``fusion.run`` over the demo world in a fresh process (peak memory is per
process), ``--repeat`` times; medians. The demo worlds (cached per tile under
FUSION_CACHE_DIR) are generated before any timing, and time is that of ``run()`` alone
(interpreter start and imports excluded).

Targets (``tiled``): peak RSS at 16× / 1× ≤ 1.3 and time at 16× / (16 × time at 1×) ≤ 1.15.
Prints JSON and writes ``benchmarks/results/scaling.json``.

    .venv/bin/python benchmarks/scaling.py [--repeat 1] [--series sentinel2] [--cell-m 1680]

With ``--cell-m 5010 --variants tiled --out benchmarks/results/scaling_default_tiles.json``
the 1× AOI is one whole default tile (501 × 501 pixels) and 16× sixteen of them: the figures
of a default run as the AOI grows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _memory import RssSampler  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "scaling.json"
SCALES = (1, 4, 16)
# Near the tests' small demo AOI (box(24.450, 0.785, 24.465, 0.800)), UTM 35N; the 16× square
# lies inside one 15 km tile, 210–225 km E, 75–90 km N.
CRS = "EPSG:32635"
SINGLE_TILE_M = 15_000
ANCHOR_M = (216_300.0, 80_000.0)
INSET_M = 5.0
"""The AOI square is this much inside its tiles' edges: reprojecting it to WGS84 and back
must not spill slivers (one-pixel tiles) into the neighbouring tiles."""
START, END = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
TARGET_MEMORY_RATIO = 1.3
TARGET_TIME_RATIO = 1.15


def _aoi(folder: Path, scale: int, cell_m: int) -> Path:
    """A square of ``sqrt(scale)`` × ``sqrt(scale)`` grid cells, as a GeoPackage in UTM."""
    import geopandas as gpd
    from shapely.geometry import box

    side = math.isqrt(scale)
    assert side * side == scale, scale
    x0 = math.floor(ANCHOR_M[0] / cell_m) * cell_m
    y0 = math.floor(ANCHOR_M[1] / cell_m) * cell_m
    extent = side * cell_m
    shape = box(x0 + INSET_M, y0 + INSET_M, x0 + extent - INSET_M, y0 + extent - INSET_M)
    path = folder / f"aoi-{scale}x.gpkg"
    gpd.GeoDataFrame({"name": [f"{scale}x"]}, geometry=[shape], crs=CRS).to_file(path)
    return path


def _config(aoi: Path, out: Path, args: argparse.Namespace, tile_size_m: int) -> Any:
    from fusion.pipeline import RunConfig

    return RunConfig(
        aoi=aoi,
        out=out,
        start=START,
        end=END,
        series=args.series,
        tile_size_m=tile_size_m,
        chunk_px=args.chunk_px,
        scheduler=args.scheduler,
    )


def _prepare(aoi: Path, args: argparse.Namespace, tile_size_m: int) -> dict[str, Any]:
    """Search every tile once (generating the demo worlds if needed)."""
    from fusion.pipeline.runner import search_tiles

    t0 = time.perf_counter()
    tiles = [tile for tile, _ in search_tiles(_config(aoi, Path("unused"), args, tile_size_m))]
    return {
        "tiles": len(tiles),
        "pixels_10m": sum(t.geobox.width * t.geobox.height for t in tiles),
        "tile_shapes": sorted({(t.geobox.height, t.geobox.width) for t in tiles}),
        "search_and_generation_s": round(time.perf_counter() - t0, 2),
    }


def _worker(aoi: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run in this (fresh) process; ``--tile-size-m`` is the run's tile size."""
    from fusion.pipeline import run

    with (
        tempfile.TemporaryDirectory(prefix="fusion-scaling-") as folder,
        RssSampler() as sampler,
    ):
        t0 = time.perf_counter()
        config = _config(aoi, Path(folder) / "out", args, args.tile_size_m)
        result = run(config, progress=False)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "run_peak_above_imports_mb": (sampler.peak - sampler.baseline) / 2**20,
        "tiles": len(result.manifest.tiles),
        "stage_seconds": result.manifest.timings_s,
    }


def _measure(aoi: Path, args: argparse.Namespace, tile_size_m: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        str(aoi),
        "--series",
        args.series,
        "--tile-size-m",
        str(tile_size_m),
        "--chunk-px",
        str(args.chunk_px),
        *(["--scheduler", args.scheduler] if args.scheduler else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"worker failed on {aoi}:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _variant(aois: dict[int, Path], args: argparse.Namespace, tile_size_m: int) -> dict[str, Any]:
    """Prepare (untimed), then measure every scale ``--repeat`` times; medians and ratios."""
    prepared = {k: _prepare(aoi, args, tile_size_m) for k, aoi in aois.items()}
    runs: dict[int, list[dict[str, Any]]] = {k: [] for k in SCALES}
    for _ in range(args.repeat):
        for k in SCALES:
            runs[k].append(_measure(aois[k], args, tile_size_m))
    summary = {
        f"{k}x": {
            **prepared[k],
            "seconds_median": round(statistics.median(r["seconds"] for r in rs), 2),
            "seconds_all": [round(r["seconds"], 2) for r in rs],
            "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in rs), 1),
            "run_peak_above_imports_mb_median": round(
                statistics.median(r["run_peak_above_imports_mb"] for r in rs), 1
            ),
            "stage_seconds_first_run": rs[0]["stage_seconds"],
        }
        for k, rs in runs.items()
    }
    one, big = summary["1x"], summary[f"{SCALES[-1]}x"]
    return {
        "tile_size_m": tile_size_m,
        "scales": summary,
        "ratio_peak_rss_16x_over_1x": round(
            big["peak_rss_mb_median"] / one["peak_rss_mb_median"], 3
        ),
        "ratio_time_16x_over_16_times_1x": round(
            big["seconds_median"] / (SCALES[-1] * one["seconds_median"]), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--series", default="sentinel2", choices=("fused", "landsat", "sentinel2"))
    parser.add_argument("--cell-m", type=int, default=1680, help="AOI cell: 168 px at 10 m")
    parser.add_argument("--chunk-px", type=int, default=512)
    parser.add_argument(
        "--variants",
        default="tiled,default,single_tile",
        help="comma-separated subset of tiled, default, single_tile",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--scheduler",
        default=None,
        help="the runs' --scheduler (threads, local, an address); default: the run's default "
        "(a Dask cluster in the process)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tile-size-m", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args)))
        return

    from fusion.aoi import DEFAULT_TILE_SIZE_M

    with tempfile.TemporaryDirectory(prefix="fusion-scaling-aoi-") as tmp:
        aois = {k: _aoi(Path(tmp), k, args.cell_m) for k in SCALES}
        sizes = {"tiled": args.cell_m, "default": DEFAULT_TILE_SIZE_M, "single_tile": SINGLE_TILE_M}
        chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
        if "tiled" not in chosen or not set(chosen) <= set(sizes):
            raise SystemExit(f"--variants: tiled plus any of {sorted(sizes)}, got {chosen}")
        variants = {v: _variant(aois, args, sizes[v]) for v in chosen}
    tiled = variants["tiled"]
    report = {
        "benchmark": "scaling",
        "what": (
            f"fusion.run of the demo world, series={args.series}, over squares of 1, 2×2 and "
            f"4×4 cells of {args.cell_m} m (UTM 35N, Congo demo world), scheduler "
            f"{args.scheduler or 'default (Dask LocalCluster in the process)'}; "
            f"tiled: one tile per cell; default: {DEFAULT_TILE_SIZE_M} m tiles; single_tile: "
            f"{SINGLE_TILE_M} m tiles, one per AOI; "
            "demo worlds generated before timing; time is run() alone"
        ),
        "series": args.series,
        "scheduler": args.scheduler or "default",
        "period": [str(START), str(END)],
        "cell_m": args.cell_m,
        "chunk_px": args.chunk_px,
        "repeat": args.repeat,
        "variants": variants,
        "targets": {
            "peak_rss_16x_over_1x_max": TARGET_MEMORY_RATIO,
            "time_16x_over_16_times_1x_max": TARGET_TIME_RATIO,
        },
        "memory_target_met": tiled["ratio_peak_rss_16x_over_1x"] <= TARGET_MEMORY_RATIO,
        "time_target_met": tiled["ratio_time_16x_over_16_times_1x"] <= TARGET_TIME_RATIO,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
