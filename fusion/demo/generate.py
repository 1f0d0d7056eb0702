"""Make a whole demo world into a folder: truth, scene COGs, items, geoparquet index.

Scenes of one date share the truth raster and the cloud field, so work is grouped by date;
dates are independent (every random draw is keyed by seed and date), which lets two threads
render them in any order with identical results.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from odc.geo.geobox import GeoBox
from stac_geoparquet.arrow import parse_stac_items_to_arrow, to_parquet

from fusion.demo import files, items
from fusion.demo.clearings import ClearingTable, place_clearings, table_of
from fusion.demo.clouds import apply_atmosphere, atmosphere, cloud_field, drift_for
from fusion.demo.config import DemoConfig
from fusion.demo.noise import rng_for
from fusion.demo.schedule import LANDSAT, SENTINEL2, Acquisition, Site, plan, site_of
from fusion.demo.sensors import S2_BANDS_10M, render_landsat, render_sentinel2
from fusion.demo.world import Surface, build_surface, truth_at

ITEMS_PARQUET = "items.parquet"
COLLECTIONS = {
    LANDSAT: "collections/landsat-c2-l2.json",
    SENTINEL2: "collections/sentinel-2-l2a.json",
}


def world_geobox(aoi: GeoBox, config: DemoConfig) -> GeoBox:
    """The AOI grid plus the margin, edges on multiples of 60 m (10, 20, 30 m pixels nest)."""
    x0, y0, x1, y1 = aoi.boundingbox
    m, snap = config.margin_m, 60
    bbox = (
        math.floor((x0 - m) / snap) * snap,
        math.floor((y0 - m) / snap) * snap,
        math.ceil((x1 + m) / snap) * snap,
        math.ceil((y1 + m) / snap) * snap,
    )
    return GeoBox.from_bbox(bbox, aoi.crs, resolution=10, tight=True)


def generate(
    work: Path,
    final: Path,
    aoi: GeoBox,
    *,
    start: dt.date,
    end: dt.date,
    seed: int,
    config: DemoConfig,
) -> dict[str, Any]:
    """Write the world into ``work``; hrefs point into ``final`` (where ``work`` will move)."""
    world = world_geobox(aoi, config)
    shape = (world.shape.y, world.shape.x)
    surface = build_surface(shape, seed=seed)
    rows, cols = world.overlap_roi(aoi)
    window = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
    clearings, clearing_id = place_clearings(
        surface.classes, world, window, start=start, end=end, seed=seed, config=config
    )
    table = table_of(clearings)
    files.write_truth(work / "truth", surface, clearing_id, clearings, world)
    site = site_of(world)
    by_date: dict[dt.date, list[Acquisition]] = defaultdict(list)
    for acq in plan(site, start=start, end=end, seed=seed, config=config):
        by_date[acq.date].append(acq)
    maker = _SceneMaker(work, final, world, site, surface, clearing_id, table, seed, config)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(maker.render, [by_date[d] for d in sorted(by_date)]))
    stac = sorted(
        (i for its, _ in done for i in its), key=lambda i: (i["properties"]["datetime"], i["id"])
    )
    facts = sorted((f for _, fs in done for f in fs), key=lambda f: (f["datetime"], f["item_id"]))
    for collection_id, relative in COLLECTIONS.items():
        doc = items.collection(collection_id, world, start, end)
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_text(json.dumps(doc, indent=2) + "\n")
    collections = {k: json.loads((work / v).read_text()) for k, v in COLLECTIONS.items()}
    if stac:
        index = parse_stac_items_to_arrow(stac)
    else:  # no pass in the period: an empty index with the stac-geoparquet columns
        index = parse_stac_items_to_arrow([_placeholder(start)]).read_all().slice(0, 0)
    to_parquet(index, work / ITEMS_PARQUET, collections=collections)
    (work / "truth" / files.ACQUISITIONS).write_text(json.dumps(facts, indent=1) + "\n")
    return {
        "items": len(stac),
        "landsat_items": sum(i["collection"] == LANDSAT for i in stac),
        "sentinel2_items": sum(i["collection"] == SENTINEL2 for i in stac),
        "clearings": len(clearings),
        "world_shape": list(shape),
        "mean_cloud_cover": round(
            float(np.mean([i["properties"]["eo:cloud_cover"] for i in stac])), 2
        )
        if stac
        else None,
    }


def _placeholder(start: dt.date) -> dict[str, Any]:
    """An item that only lends its column types to an empty index (it is never written)."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": "placeholder",
        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
        "bbox": [0.0, 0.0, 0.0, 0.0],
        "properties": {"datetime": f"{start}T00:00:00Z", "eo:cloud_cover": 0.0},
        "links": [],
        "assets": {"blue": {"href": "placeholder"}},
        "collection": LANDSAT,
    }


class _SceneMaker:
    """Renders and writes every acquisition of one date."""

    def __init__(
        self, work: Path, final: Path, world: GeoBox, site: Site, surface: Surface,
        clearing_id: np.ndarray, table: ClearingTable, seed: int, config: DemoConfig,
    ) -> None:  # fmt: skip
        self.work, self.final, self.world, self.site = work, final, world, site
        self.surface, self.clearing_id, self.table = surface, clearing_id, table
        self.seed, self.config = seed, config

    def render(self, acqs: list[Acquisition]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Items and facts of the acquisitions of one date."""
        day, cfg = acqs[0].date.toordinal(), self.config
        shape = (self.world.shape.y, self.world.shape.x)
        truth = truth_at(self.surface, self.clearing_id, self.table, day)
        field = cloud_field(acqs[0].sky, shape, seed=self.seed, day=day, config=cfg)
        drift = drift_for(self.seed, day)
        stac, facts = [], []
        rendered: dict[str, tuple[Any, Any]] = {}
        for acq in acqs:
            if acq.platform not in rendered:  # a reprocessed duplicate reuses its scene
                landsat = acq.collection == LANDSAT
                atm = atmosphere(
                    field, acq.sky, shape, sun_azimuth=acq.sun_azimuth,
                    sun_elevation=acq.sun_elevation, drift_px=drift if landsat else (0.0, 0.0),
                )  # fmt: skip
                seen = apply_atmosphere(truth, atm)
                rng = rng_for(self.seed, "sensor", acq.platform, day)
                rendered[acq.platform] = (
                    render_landsat(
                        seen, atm, shift_m=acq.shift_m, rng=rng, noise=cfg.landsat_noise,
                        psf_sigma_px=cfg.landsat_psf_sigma_px,
                    )
                    if landsat
                    else render_sentinel2(
                        seen, atm, platform=acq.platform, shift_m=acq.shift_m, rng=rng,
                        noise=cfg.sentinel2_noise, mtf_sigma_px=cfg.sentinel2_mtf_sigma_px,
                    ),
                    atm,
                )  # fmt: skip
            scene, atm = rendered[acq.platform]
            item = self._write(acq, scene)
            stac.append(item)
            facts.append(_facts(acq, item, atm))
        return stac, facts

    def _write(self, acq: Acquisition, scene: Any) -> dict[str, Any]:
        site, item_id = self.site, acq.item_id(self.site)
        if acq.collection == LANDSAT:
            product = acq.product_id(site)
            folder = Path(
                LANDSAT, f"{site.wrs_path:03d}", f"{site.wrs_row:03d}", f"{acq.date.year}", product
            )
            grid = self.world.zoom_out(3)
            layers = {
                k: (items.LANDSAT_ASSETS[k][0], scene.bands[k], 0) for k in items.LANDSAT_ASSETS
            }
            layers["qa_pixel"] = ("QA_PIXEL", scene.qa_pixel, 1)
            paths = {k: folder / f"{product}_{stem}.TIF" for k, (stem, _, _) in layers.items()}
            for key, (_, data, nodata) in layers.items():
                files.write_cog(self.work / paths[key], data, grid, nodata=nodata)
            build = items.landsat_item
        else:
            zone, band, square = site.mgrs[:2], site.mgrs[2], site.mgrs[3:]
            folder = Path(
                SENTINEL2, zone, band, square, f"{acq.date.year}", f"{acq.date.month}", item_id
            )
            paths = {k: folder / f"{v[0]}.tif" for k, v in items.SENTINEL2_ASSETS.items()}
            paths["scl"] = folder / "SCL.tif"
            for key, (name, *_) in items.SENTINEL2_ASSETS.items():
                grid = self.world if name in S2_BANDS_10M else self.world.zoom_out(2)
                files.write_cog(self.work / paths[key], scene.bands[name], grid, nodata=0)
            files.write_cog(self.work / paths["scl"], scene.scl, self.world.zoom_out(2), nodata=0)
            grid = self.world
            build = items.sentinel2_item  # type: ignore[assignment]
        item = build(
            acq, scene, site, grid, files={k: self.final / p for k, p in paths.items()},
            item_path=self.final / folder / f"{item_id}.json",
            collection_path=self.final / COLLECTIONS[acq.collection],
        )  # fmt: skip
        (self.work / folder / f"{item_id}.json").write_text(json.dumps(item, indent=1) + "\n")
        return item


def _facts(acq: Acquisition, item: dict[str, Any], atm: Any) -> dict[str, Any]:
    """What really happened in one acquisition (for validation and benchmarks)."""
    props = item["properties"]
    return {
        "item_id": item["id"],
        "collection": acq.collection,
        "platform": acq.platform,
        "datetime": props["datetime"],
        "cloud_fraction": round(float(atm.cloud.mean()), 5),
        "shadow_fraction": round(float(((atm.shadow > 0) & ~atm.cloud).mean()), 5),
        "unflagged_haze_fraction": round(
            float(((atm.haze - acq.sky.global_haze > 0.05) & ~atm.cloud).mean()), 5
        ),
        "global_haze": round(acq.sky.global_haze, 4),
        "eo:cloud_cover": props["eo:cloud_cover"],
        "shift_dx_m": acq.shift_m[0],
        "shift_dy_m": acq.shift_m[1],
        "sun_azimuth": round(acq.sun_azimuth, 3),
        "sun_elevation": round(acq.sun_elevation, 3),
        "cloud_height_m": round(acq.sky.height_m, 1),
        "landsat_category": acq.category if acq.collection == LANDSAT else None,
        "s2_processing_baseline": acq.baseline,
        "s2_sequence": acq.sequence if acq.collection == SENTINEL2 else None,
        "boa_offset_in_dn": acq.collection == SENTINEL2,
        "boa_offset_flag": acq.boa_flag if acq.collection == SENTINEL2 else None,
    }
