"""When each satellite passes, what the sky is like, and the facts each item will carry.

Landsat 8 and 9 each repeat every 16 days, 8 days apart; Sentinel-2A and 2B every 10 days,
5 days apart. The phases are anchored to fixed dates, so a longer period only adds scenes.
The weather belongs to the date (a Landsat and a Sentinel-2 pass on the same morning see the
same clouds, moved a little by the wind).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
from odc.geo.geobox import GeoBox
from scipy import stats

from fusion.demo.config import DemoConfig
from fusion.demo.noise import rng_for

Collection = Literal["landsat-c2-l2", "sentinel-2-l2a"]
LANDSAT: Final = "landsat-c2-l2"
SENTINEL2: Final = "sentinel-2-l2a"

# Anchors of each platform's repeat cycle (arbitrary but fixed dates).
_ANCHOR: Final = {
    "landsat-8": dt.date(2022, 12, 29),
    "landsat-9": dt.date(2022, 12, 29) + dt.timedelta(days=8),
    "sentinel-2a": dt.date(2022, 12, 31),
    "sentinel-2b": dt.date(2022, 12, 31) + dt.timedelta(days=5),
}
# Equator crossing near 10:10 (Landsat) and 10:30 (Sentinel-2) mean local solar time.
_LOCAL_TIME_H: Final = {"landsat": 10.1, "sentinel2": 10.45}
# Sentinel-2 processing baselines in force from these dates (ESA, S2 MPC news).
_BASELINES: Final = ((dt.date(2023, 12, 13), "05.10"), (dt.date(2024, 7, 23), "05.11"))


@dataclass(frozen=True)
class Site:
    """Where the world lies, in the names the archives use."""

    lon: float
    lat: float
    epsg: int
    mgrs: str
    """Sentinel-2 tile, e.g. ``35NKA`` (zone, latitude band, 100 km square)."""
    wrs_path: int
    wrs_row: int


@dataclass(frozen=True)
class Sky:
    """The weather of one date."""

    fraction: float
    """Target share of the world under flagged cloud."""
    haze_fraction: float
    """Extra share under thin, unflagged haze beside the clouds."""
    global_haze: float
    """Scene-wide aerosol haze, in units of the haze spectrum."""
    height_m: float
    cirrus: bool


@dataclass(frozen=True)
class Acquisition:
    """One scene as the archive holds it."""

    collection: Collection
    platform: str
    datetime: dt.datetime
    sky: Sky
    sun_azimuth: float
    sun_elevation: float
    shift_m: tuple[float, float]
    """Simulated misregistration of the scene's content (east, north), metres."""
    created: dt.datetime
    processed: dt.datetime
    """Landsat product generation date, Sentinel-2 ``s2:generation_time``."""
    sequence: int = 0
    baseline: str | None = None
    boa_flag: bool = True
    category: str = "T1"

    @property
    def date(self) -> dt.date:
        return self.datetime.date()

    def item_id(self, site: Site) -> str:
        """The Earth Search v1 item id."""
        if self.collection == LANDSAT:
            return f"{self.product_id(site)[:25]}_02_{self.category}"
        return f"S2{self.platform[-1].upper()}_{site.mgrs}_{self.date:%Y%m%d}_{self.sequence}_L2A"

    def product_id(self, site: Site) -> str:
        """Landsat product id (with processing date) or Sentinel-2 SAFE name."""
        if self.collection == LANDSAT:
            return (
                f"LC0{self.platform[-1]}_L2SP_{site.wrs_path:03d}{site.wrs_row:03d}_"
                f"{self.date:%Y%m%d}_{self.processed:%Y%m%d}_02_{self.category}"
            )
        baseline = (self.baseline or "00.00").replace(".", "")
        return (
            f"S2{self.platform[-1].upper()}_MSIL2A_{self.datetime:%Y%m%dT%H%M%S}_N{baseline}_"
            f"R064_T{site.mgrs}_{self.processed:%Y%m%dT%H%M%S}.SAFE"
        )


def site_of(geobox: GeoBox) -> Site:
    """MGRS tile and WRS-2 path/row of a UTM world (plausible names, not a survey)."""
    crs = geobox.crs
    assert crs is not None and crs.epsg is not None
    centre = geobox.extent.centroid
    lon, lat = centre.to_crs("EPSG:4326").coords[0]
    easting, northing = centre.coords[0]
    zone = crs.epsg % 100
    band = "CDEFGHJKLMNPQRSTUVWX"[min(int((lat + 80) // 8), 19)]
    column = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")[(zone - 1) % 3][int(easting // 100_000) - 1]
    rows = "ABCDEFGHJKLMNPQRSTUV"
    row = rows[(int(northing // 100_000) + (5 if zone % 2 == 0 else 0)) % 20]
    # WRS-2: 233 paths numbered westward (path 1 crosses the equator near 64.6° W), 248 rows
    # per orbit with row 60 at the descending equator crossing.
    path = round((-lon - 64.6) / (360 / 233)) % 233 + 1
    wrs_row = round(60 - lat / (360 / 248))
    return Site(lon, lat, crs.epsg, f"{zone}{band}{column}{row}", path, wrs_row)


def solar_position(lon: float, lat: float, when: dt.datetime) -> tuple[float, float]:
    """Sun azimuth and elevation in degrees (NOAA General Solar Position equations)."""
    day = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (day - 1 + (hour - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    hour_angle = math.radians((hour * 60 + eqtime + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(
        hour_angle
    )
    elevation = 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi),
        )
    )
    return (azimuth + 180) % 360, elevation


def plan(
    site: Site, *, start: dt.date, end: dt.date, seed: int, config: DemoConfig
) -> list[Acquisition]:
    """All acquisitions in ``[start, end]``, sorted by time, duplicates included."""
    passes: list[tuple[dt.date, str]] = []
    for platform, anchor in _ANCHOR.items():
        landsat = platform.startswith("landsat")
        step = config.landsat_revisit_days if landsat else config.sentinel2_revisit_days
        first = anchor + dt.timedelta(days=math.ceil((start - anchor).days / step) * step)
        day = first
        while day <= end:
            if landsat or rng_for(seed, "missing", platform, day.toordinal()).random() >= (
                config.sentinel2_missing_fraction
            ):
                passes.append((day, platform))
            day += dt.timedelta(days=step)
    skies = _skies(sorted({d for d, _ in passes}), seed=seed, config=config)
    out: list[Acquisition] = []
    for day, platform in passes:
        out.extend(_acquisitions(site, day, platform, skies[day], seed=seed, config=config))
    return sorted(out, key=lambda a: (a.datetime, a.collection, a.sequence))


def _skies(days: list[dt.date], *, seed: int, config: DemoConfig) -> dict[dt.date, Sky]:
    """Weather per date. Cloud fractions are stratified draws from a Beta distribution, so
    their mean meets the target closely even over a short period."""
    rng = rng_for(seed, "skies", len(days), days[0].toordinal() if days else 0)
    k = config.cloud_cover_concentration
    a, b = config.cloud_cover_mean * k, (1 - config.cloud_cover_mean) * k
    n = len(days)
    quantiles = (rng.permutation(n) + rng.random(n)) / max(n, 1)
    if 0 < config.cloud_cover_mean < 1:
        fractions = np.clip(stats.beta.ppf(quantiles, a, b), 0.0, 0.995)
    else:  # a clear (0) or overcast (1) world, for tests
        fractions = np.full(n, min(max(config.cloud_cover_mean, 0.0), 0.995))
    skies = {}
    for day, fraction in zip(days, fractions, strict=True):
        day_rng = rng_for(seed, "sky", day.toordinal())
        skies[day] = Sky(
            fraction=float(fraction),
            haze_fraction=float(day_rng.uniform(*config.haze_fraction)),
            global_haze=float(day_rng.uniform(0.0, config.global_haze_max)),
            height_m=float(day_rng.uniform(*config.cloud_height_m)),
            cirrus=bool(day_rng.random() < config.cirrus_date_fraction),
        )
    return skies


def _acquisitions(
    site: Site, day: dt.date, platform: str, sky: Sky, *, seed: int, config: DemoConfig
) -> list[Acquisition]:
    rng = rng_for(seed, "acquisition", platform, day.toordinal())
    landsat = platform.startswith("landsat")
    solar_h = _LOCAL_TIME_H["landsat" if landsat else "sentinel2"] - site.lon / 15
    when = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(
        hours=solar_h, seconds=float(rng.uniform(-40, 40))
    )
    when = when.replace(microsecond=(when.microsecond // 1000) * 1000)
    azimuth, elevation = solar_position(site.lon, site.lat, when)
    if landsat:
        tier2 = sky.fraction > 0.9 and rng.random() < 0.6
        sigma = config.landsat_t2_shift_sigma_m if tier2 else config.landsat_shift_sigma_m
        bias = config.landsat_shift_bias_m
        shift = (bias[0] + rng.normal(0, sigma), bias[1] + rng.normal(0, sigma))
        processed = when + dt.timedelta(days=float(rng.uniform(6, 14)))
        return [
            Acquisition(
                LANDSAT,
                platform,
                when,
                sky,
                azimuth,
                elevation,
                (round(shift[0], 2), round(shift[1], 2)),
                created=processed + dt.timedelta(hours=float(rng.uniform(5, 30))),
                processed=processed,
                category="T2" if tier2 else "T1",
            )
        ]
    sigma = config.sentinel2_shift_sigma_m
    shift = (round(rng.normal(0, sigma), 2), round(rng.normal(0, sigma), 2))
    baseline = "05.09"
    for since, name in _BASELINES:
        if day >= since:
            baseline = name
    processed = when + dt.timedelta(minutes=float(rng.uniform(60, 150)))
    first = Acquisition(
        SENTINEL2,
        platform,
        when,
        sky,
        azimuth,
        elevation,
        shift,
        created=processed + dt.timedelta(minutes=float(rng.uniform(20, 60))),
        processed=processed,
        baseline=baseline,
        boa_flag=bool(rng.random() >= config.sentinel2_wrong_boa_flag_fraction),
    )
    if rng.random() >= config.sentinel2_duplicate_fraction:
        return [first]
    # Reprocessed copy: same tile and datetime, newer baseline, created weeks later.
    newer = f"{baseline[:3]}{int(baseline[3:]) + 1:02d}"
    reprocessed = processed + dt.timedelta(days=float(rng.uniform(20, 90)))
    second = replace(
        first,
        created=reprocessed + dt.timedelta(minutes=float(rng.uniform(20, 60))),
        processed=reprocessed,
        sequence=1,
        baseline=newer,
        boa_flag=True,  # the reprocessed copy always carries a correct flag
    )
    return [first, second]
