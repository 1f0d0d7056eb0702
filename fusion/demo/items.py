"""STAC items and collections in the Earth Search v1 schema, pointing at local COGs.

Ids, property names, asset keys, roles, ``raster:bands`` and ``eo:bands`` follow real Earth
Search v1 ``landsat-c2-l2`` and ``sentinel-2-l2a`` items (see ../shared/data/stac-items):
Landsat carries ``proj:*`` on the item (all its bands are 30 m), Sentinel-2 on each asset.
Only the assets the pipeline reads are listed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path
from typing import Any, Final

from odc.geo.geobox import GeoBox

from fusion.demo.schedule import LANDSAT, SENTINEL2, Acquisition, Site
from fusion.demo.sensors import LANDSAT_OFFSET, LANDSAT_SCALE, LandsatScene, Sentinel2Scene

COG_TYPE: Final = "image/tiff; application=geotiff; profile=cloud-optimized"
_EXT: Final = "https://stac-extensions.github.io/{}/schema.json"
LANDSAT_EXTENSIONS: Final = [
    _EXT.format(x)
    for x in (
        "projection/v1.1.0",
        "classification/v1.0.0",
        "raster/v1.1.0",
        "processing/v1.1.0",
        "scientific/v1.0.0",
        "grid/v1.1.0",
        "view/v1.0.0",
        "eo/v1.1.0",
        "landsat/v2.0.0",
    )
]
SENTINEL2_EXTENSIONS: Final = [
    _EXT.format(x)
    for x in (
        "grid/v1.1.0",
        "mgrs/v1.0.0",
        "processing/v1.1.0",
        "projection/v1.1.0",
        "sentinel-2/v1.0.0",
        "raster/v1.1.0",
        "view/v1.0.0",
        "eo/v1.1.0",
    )
]
# asset key: (file stem, band name, title, centre µm, FWHM µm)
LANDSAT_ASSETS: Final = {
    "blue": ("SR_B2", "OLI_B2", "Blue Band", "Visible blue", 0.48, 0.06),
    "green": ("SR_B3", "OLI_B3", "Green Band", "Visible green", 0.56, 0.06),
    "red": ("SR_B4", "OLI_B4", "Red Band", "Visible red", 0.65, 0.04),
    "nir08": ("SR_B5", "OLI_B5", "Near Infrared Band 0.8", "Near infrared", 0.87, 0.03),
    "swir16": (
        "SR_B6",
        "OLI_B6",
        "Short-wave Infrared Band 1.6",
        "Short-wave infrared",
        1.61,
        0.09,
    ),
    "swir22": ("SR_B7", "OLI_B7", "Short-wave Infrared Band 2.2", "Short-wave infrared", 2.2, 0.19),
}
# asset key: (file stem = band name, title, centre µm, FWHM µm, gsd)
SENTINEL2_ASSETS: Final = {
    "blue": ("B02", "Blue - 10m", 0.49, 0.098, 10),
    "green": ("B03", "Green - 10m", 0.56, 0.045, 10),
    "red": ("B04", "Red - 10m", 0.665, 0.038, 10),
    "nir": ("B08", "NIR 1 - 10m", 0.842, 0.145, 10),
    "nir08": ("B8A", "NIR 2 - 20m", 0.865, 0.033, 20),
    "swir16": ("B11", "SWIR 1.6μm - 20m", 1.61, 0.143, 20),
    "swir22": ("B12", "SWIR 2.2μm - 20m", 2.19, 0.242, 20),
}
_QA_BITS: Final = [  # name, offset, length, description (USGS LSDS-1619)
    ("fill", 0, 1, "Image or fill data"),
    ("dilated_cloud", 1, 1, "Dilated cloud"),
    ("cirrus", 2, 1, "Cirrus mask"),
    ("cloud", 3, 1, "Cloud mask"),
    ("cloud_shadow", 4, 1, "Cloud shadow mask"),
    ("snow", 5, 1, "Snow/Ice mask"),
    ("clear", 6, 1, "Clear mask"),
    ("water", 7, 1, "Water mask"),
    ("cloud_confidence", 8, 2, "Cloud confidence levels"),
    ("cloud_shadow_confidence", 10, 2, "Cloud shadow confidence levels"),
    ("snow_confidence", 12, 2, "Snow/Ice confidence levels"),
    ("cirrus_confidence", 14, 2, "Cirrus confidence levels"),
]


def iso(when: dt.datetime, digits: int = 3) -> str:
    """UTC timestamp as Earth Search writes it (``...T08:25:13.123Z``)."""
    text = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - 6 + digits] + "Z" if digits else text[:-7] + "Z"


def _footprint(geobox: GeoBox) -> tuple[dict[str, Any], list[float], dict[str, float]]:
    extent = geobox.extent.to_crs("EPSG:4326")
    ring = [[round(x, 9), round(y, 9)] for x, y in extent.exterior.coords]
    x0, y0, x1, y1 = extent.boundingbox
    centre = extent.centroid.coords[0]
    return (
        {"type": "Polygon", "coordinates": [ring]},
        [round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)],
        {"lat": round(centre[1], 5), "lon": round(centre[0], 5)},
    )


def _links(item_path: Path, collection_path: Path) -> list[dict[str, str]]:
    return [
        {"rel": "self", "type": "application/geo+json", "href": str(item_path)},
        {"rel": "parent", "type": "application/json", "href": str(collection_path)},
        {"rel": "collection", "type": "application/json", "href": str(collection_path)},
    ]


def landsat_item(
    acq: Acquisition,
    scene: LandsatScene,
    site: Site,
    geobox30: GeoBox,
    *,
    files: dict[str, Path],
    item_path: Path,
    collection_path: Path,
) -> dict[str, Any]:
    """Earth Search v1 ``landsat-c2-l2`` item of one simulated scene."""
    item_id, product_id = acq.item_id(site), acq.product_id(site)
    geometry, bbox, centroid = _footprint(geobox30)
    n = acq.platform[-1]
    raster = {"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
              "scale": LANDSAT_SCALE, "offset": LANDSAT_OFFSET}  # fmt: skip
    assets: dict[str, Any] = {}
    for key, (stem, band, title, text, centre, fwhm) in LANDSAT_ASSETS.items():
        assets[key] = {
            "href": str(files[key]), "type": COG_TYPE, "title": title,
            "description": f"Collection 2 Level-2 {title} ({stem}) Surface Reflectance",
            "eo:bands": [{"name": band, "common_name": key, "description": text,
                          "center_wavelength": centre, "full_width_half_max": fwhm}],
            "raster:bands": [dict(raster)], "roles": ["data", "reflectance"],
        }  # fmt: skip
    assets["qa_pixel"] = {
        "href": str(files["qa_pixel"]), "type": COG_TYPE, "title": "Pixel Quality Assessment Band",
        "description": "Collection 2 Level-1 Pixel Quality Assessment Band (QA_PIXEL)",
        "classification:bitfields": [
            {"name": name, "description": text, "offset": offset, "length": length}
            for name, offset, length, text in _QA_BITS
        ],
        "raster:bands": [{"nodata": 1, "data_type": "uint16", "spatial_resolution": 30,
                          "unit": "bit index"}],
        "roles": ["cloud", "cloud-shadow", "snow-ice", "water-mask"],
    }  # fmt: skip
    properties = {
        "platform": acq.platform, "instruments": ["oli", "tirs"], "created": iso(acq.created),
        "gsd": 30, "description": "Landsat Collection 2 Level-2",
        "eo:cloud_cover": scene.cloud_cover, "view:off_nadir": 0,
        "view:sun_elevation": round(acq.sun_elevation, 8), "view:sun_azimuth": round(acq.sun_azimuth, 7),
        "proj:epsg": site.epsg, "proj:shape": [geobox30.shape.y, geobox30.shape.x],
        "proj:transform": list(geobox30.affine)[:6], "proj:centroid": centroid,
        "landsat:cloud_cover_land": scene.cloud_cover, "landsat:wrs_type": "2",
        "landsat:wrs_path": f"{site.wrs_path:03d}", "landsat:wrs_row": f"{site.wrs_row:03d}",
        "landsat:collection_category": acq.category, "landsat:collection_number": "02",
        "landsat:correction": "L2SP",
        "landsat:scene_id": f"LC{n}{site.wrs_path:03d}{site.wrs_row:03d}{acq.date:%Y%j}LGN00",
        "landsat:product_generated": iso(acq.processed, 0),
        "grid:code": f"WRS2-{site.wrs_path:03d}{site.wrs_row:03d}", "sci:doi": "10.5066/P9OGBGM6",
        "datetime": iso(acq.datetime, 6),
        "earthsearch:payload_id": f"usgs-landsat-c2l2/workflow-landsat-to-stac/{product_id}_SR",
        "processing:software": {"landsat-to-stac": "v2023.11.16"}, "updated": iso(acq.created),
    }  # fmt: skip
    return {
        "type": "Feature", "stac_version": "1.0.0", "stac_extensions": LANDSAT_EXTENSIONS,
        "id": item_id, "geometry": geometry, "bbox": bbox, "properties": properties,
        "links": _links(item_path, collection_path), "assets": assets, "collection": LANDSAT,
    }  # fmt: skip


def sentinel2_item(
    acq: Acquisition,
    scene: Sentinel2Scene,
    site: Site,
    geobox: GeoBox,
    *,
    files: dict[str, Path],
    item_path: Path,
    collection_path: Path,
) -> dict[str, Any]:
    """Earth Search v1 ``sentinel-2-l2a`` item of one simulated scene."""
    item_id = acq.item_id(site)
    geometry, bbox, centroid = _footprint(geobox)
    unit = acq.platform[-1].upper()
    grids = {10: geobox, 20: geobox.zoom_out(2)}
    baseline = acq.baseline or "05.09"
    launch = dt.date(2015, 6, 23) if unit == "A" else dt.date(2017, 3, 7)
    orbit = int((acq.date - launch).days * 14.3) + 1  # ~14.3 orbits a day
    gen, sense = f"{acq.processed:%Y%m%dT%H%M%S}", f"{acq.datetime:%Y%m%dT%H%M%S}"
    assets: dict[str, Any] = {}
    for key, (band, title, centre, fwhm, gsd) in SENTINEL2_ASSETS.items():
        assets[key] = {
            "href": str(files[key]), "type": COG_TYPE, "title": title,
            "eo:bands": [{"name": band, "common_name": key, "center_wavelength": centre,
                          "full_width_half_max": fwhm}],
            "gsd": gsd, **_proj(grids[gsd]),
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "spatial_resolution": gsd,
                              "scale": 0.0001, "offset": -0.1}],
            "roles": ["data", "reflectance"],
        }  # fmt: skip
    assets["scl"] = {
        "href": str(files["scl"]), "type": COG_TYPE, "title": "Scene classification map (SCL)",
        "gsd": 20, **_proj(grids[20]),
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data"],
    }  # fmt: skip
    pct = scene.class_percent
    zone, lat_band, square = site.mgrs[:2], site.mgrs[2], site.mgrs[3:]
    day = acq.date.timetuple().tm_yday
    sun_distance = 1 - 0.01672 * math.cos(math.radians(0.9856 * (day - 4)))
    s3 = f"sentinel-s2-l2a-cogs/{zone}/{lat_band}/{square}/{acq.date.year}/{acq.date.month}/{item_id}"
    properties = {
        "created": iso(acq.created), "platform": acq.platform, "constellation": "sentinel-2",
        "instruments": ["msi"], "eo:cloud_cover": scene.cloud_cover, "proj:epsg": site.epsg,
        "proj:centroid": centroid, "mgrs:utm_zone": int(zone), "mgrs:latitude_band": lat_band,
        "mgrs:grid_square": square, "grid:code": f"MGRS-{site.mgrs}",
        "view:azimuth": 104.8 if unit == "A" else 286.3, "view:incidence_angle": 5.2,
        "view:sun_azimuth": round(acq.sun_azimuth, 7), "view:sun_elevation": round(acq.sun_elevation, 7),
        "s2:tile_id": f"S2{unit}_OPER_MSI_L2A_TL_2{unit}PS_{gen}_A{orbit:06d}_T{site.mgrs}_N{baseline}",
        "s2:degraded_msi_data_percentage": 0, "s2:nodata_pixel_percentage": pct.get(0, 0.0),
        "s2:saturated_defective_pixel_percentage": 0,
        "s2:cloud_shadow_percentage": pct.get(3, 0.0), "s2:vegetation_percentage": pct.get(4, 0.0),
        "s2:not_vegetated_percentage": pct.get(5, 0.0), "s2:water_percentage": pct.get(6, 0.0),
        "s2:unclassified_percentage": pct.get(7, 0.0),
        "s2:medium_proba_clouds_percentage": pct.get(8, 0.0),
        "s2:high_proba_clouds_percentage": pct.get(9, 0.0),
        "s2:thin_cirrus_percentage": pct.get(10, 0.0), "s2:snow_ice_percentage": 0,
        "s2:product_type": "S2MSI2A", "s2:processing_baseline": baseline,
        "s2:product_uri": acq.product_id(site), "s2:generation_time": iso(acq.processed, 6),
        "s2:datatake_id": f"GS2{unit}_{sense}_{orbit:06d}_N{baseline}", "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": f"S2{unit}_OPER_MSI_L2A_DS_2{unit}PS_{gen}_S{sense}_N{baseline}",
        "s2:reflectance_conversion_factor": 1 / sun_distance**2,
        "datetime": iso(acq.datetime, 6), "s2:sequence": str(acq.sequence),
        "earthsearch:s3_path": f"s3://sentinel-cogs/{s3}",
        "earthsearch:payload_id": "roda-sentinel2/workflow-sentinel2-to-stac/"
        + hashlib.md5(item_id.encode(), usedforsecurity=False).hexdigest(),
        "earthsearch:boa_offset_applied": acq.boa_flag,
        "processing:software": {"sentinel2-to-stac": "2023.11.28"}, "updated": iso(acq.created),
    }  # fmt: skip
    return {
        "type": "Feature", "stac_version": "1.0.0", "stac_extensions": SENTINEL2_EXTENSIONS,
        "id": item_id, "geometry": geometry, "bbox": bbox, "properties": properties,
        "links": _links(item_path, collection_path), "assets": assets, "collection": SENTINEL2,
    }  # fmt: skip


def _proj(geobox: GeoBox) -> dict[str, Any]:
    return {
        "proj:shape": [geobox.shape.y, geobox.shape.x],
        "proj:transform": list(geobox.affine)[:6],
    }


def collection(collection_id: str, geobox: GeoBox, start: dt.date, end: dt.date) -> dict[str, Any]:
    """A minimal Earth Search-like collection document for the demo catalogue."""
    _, bbox, _ = _footprint(geobox)
    landsat = collection_id == LANDSAT
    title = "Landsat Collection 2 Level-2" if landsat else "Sentinel-2 Level-2A"
    return {
        "type": "Collection", "stac_version": "1.0.0", "id": collection_id,
        "title": f"{title} (fusion demo simulation)",
        "description": f"Simulated {title} scenes of the fusion demo world, in the Earth Search "
        "v1 item schema. Not real data.",
        "license": "proprietary",
        "extent": {"spatial": {"bbox": [bbox]},
                   "temporal": {"interval": [[f"{start}T00:00:00Z", f"{end}T23:59:59Z"]]}},
        "summaries": {
            "platform": ["landsat-8", "landsat-9"] if landsat else ["sentinel-2a", "sentinel-2b"],
            "instruments": ["oli", "tirs"] if landsat else ["msi"],
            "gsd": [30] if landsat else [10, 20],
        },
        "item_assets": {
            key: {"type": COG_TYPE, "roles": ["data", "reflectance"]}
            for key in (LANDSAT_ASSETS if landsat else SENTINEL2_ASSETS)
        },
        "providers": [{"name": "fusion demo simulator", "roles": ["producer", "processor", "host"]}],
        "links": [],
    }  # fmt: skip
