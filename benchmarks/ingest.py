"""Benchmark: search + load the demo AOI with fusion vs plain ``odc.stac.load`` of the same items.

Each measurement runs in a fresh process (peak memory is per process), ``--repeat`` times;
medians and the fusion/plain ratios come from this one run. Prints JSON and writes
``benchmarks/results/ingest.json``.

fusion's path does more than the plain load (per-item scale/offset, masks dilated, bandpass,
same-day merge, float32 reflectance), so the ratio is the price of that harmonisation.

    .venv/bin/python benchmarks/ingest.py [--repeat 3] [--start 2023-01-01 --end 2024-06-30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _memory import RssSampler  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "ingest.json"


def _prepare(start: dt.date, end: dt.date) -> dict[str, Any]:
    """Search once (generating the demo world if needed) and return the item set to load."""
    from fusion.aoi import aoi_grid, read_aoi
    from fusion.catalog.config import load_data_catalog
    from fusion.catalog.search import search_items

    (tile,) = aoi_grid(read_aoi(REPO / "congo.geojson"))
    source = load_data_catalog().source("demo")
    t0 = time.perf_counter()
    result = search_items(
        source,
        intersects=tile.geometry.to_crs("EPSG:4326").json,
        start=start,
        end=end,
        max_cloud=None,
        demo_geobox=tile.geobox,
    )
    first_search_s = time.perf_counter() - t0
    return {"tile": tile, "result": result, "first_search_s": first_search_s}


def _worker(kind: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    import dask

    dask.config.set(scheduler="threads", num_workers=os.cpu_count())
    t0 = time.perf_counter()
    prepared = _prepare(start, end)
    tile, result = prepared["tile"], prepared["result"]
    search_s = time.perf_counter() - t0
    pixels = 0
    sampler = RssSampler().__enter__()
    if kind == "fusion":
        from fusion.ingest.load import load_sensor

        for sensor in ("landsat", "sentinel2"):
            geobox = tile.geobox30 if sensor == "landsat" else tile.geobox
            ds = load_sensor(result.items[sensor], result.bands, geobox=geobox)
            values = ds["reflectance"].compute()
            pixels += values.size
    else:
        import odc.stac

        for sensor in ("landsat", "sentinel2"):
            geobox = tile.geobox30 if sensor == "landsat" else tile.geobox
            items = result.items[sensor]
            mapping = result.bands[items[0].collection_id]
            assets = [*mapping.assets, mapping.mask_asset]
            ds = odc.stac.load(
                items,
                bands=assets,
                geobox=geobox,
                chunks={"x": 512, "y": 512},
                dtype="uint16",
                groupby="id",
            )
            ds.compute()
            pixels += ds[mapping.assets[0]].size * len(mapping.assets)
    sampler.__exit__()
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "search_seconds": search_s,
        "load_peak_mb": (sampler.peak - sampler.baseline) / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "values_loaded": pixels,
        "items": {k: len(v) for k, v in result.items.items()},
    }


def _measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--start", args.start, "--end", args.end]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--start", default="2023-01-01")
    parser.add_argument("--end", default="2024-06-30")
    parser.add_argument("--worker", choices=("fusion", "plain"))
    args = parser.parse_args()
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    if args.worker:
        print(json.dumps(_worker(args.worker, start, end)))
        return

    t0 = time.perf_counter()
    prepared = _prepare(start, end)  # generates (or reuses) the demo world
    generation_s = time.perf_counter() - t0
    runs: dict[str, list[dict[str, Any]]] = {"fusion": [], "plain": []}
    for _ in range(args.repeat):
        for kind in ("plain", "fusion"):  # interleaved: machine noise hits both alike
            runs[kind].append(_measure(kind, args))
    summary = {
        kind: {
            "seconds_median": statistics.median(r["seconds"] for r in rs),
            "seconds_all": [round(r["seconds"], 3) for r in rs],
            "search_seconds_median": statistics.median(r["search_seconds"] for r in rs),
            "load_peak_mb_median": statistics.median(r["load_peak_mb"] for r in rs),
            "process_peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rs),
            "values_loaded": rs[0]["values_loaded"],
        }
        for kind, rs in runs.items()
    }
    report = {
        "benchmark": "ingest",
        "what": "search + load (compute) of the demo AOI congo.geojson, both sensors",
        "period": [args.start, args.end],
        "items": runs["fusion"][0]["items"],
        "tile_shape_10m": list(prepared["tile"].geobox.shape),
        "demo_world_first_use_s": round(generation_s, 2),
        "repeat": args.repeat,
        "fusion": summary["fusion"],
        "plain_odc_stac_load": summary["plain"],
        "ratio_time_fusion_over_plain": round(
            summary["fusion"]["seconds_median"] / summary["plain"]["seconds_median"], 3
        ),
        "ratio_load_memory_fusion_over_plain": round(
            summary["fusion"]["load_peak_mb_median"] / summary["plain"]["load_peak_mb_median"], 3
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
