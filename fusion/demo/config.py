"""The stated conditions of the demo world, in one frozen dataclass.

Every number the simulator draws from lives here, so a benchmark can print the conditions it
ran under (``DEMO_CONDITIONS``) and a test can build a world under other ones (for example
without clouds). The configuration is part of the cache key: change a field, get a new world.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

SIMULATOR_VERSION: Final = "1.0.0"
"""Bumped whenever generated pixels or items change; part of the cache key."""


@dataclass(frozen=True)
class DemoConfig:
    """Conditions of the simulated Congo Basin world."""

    margin_m: int = 300
    """The world covers the AOI grid plus this margin on each side (then snapped out to 60 m,
    so 10, 20 and 30 m pixels all nest)."""
    history_days: int = 182
    """No clearing happens in the first days of the period: the monitor's history."""
    end_buffer_days: int = 20
    """No clearing happens in the last days of the period (it could not be confirmed)."""

    landsat_revisit_days: int = 16
    """Per platform; Landsat 8 and 9 are offset by half of it (8-day combined)."""
    sentinel2_revisit_days: int = 10
    """Per platform; Sentinel-2A and 2B are offset by half of it (5-day combined)."""
    sentinel2_missing_fraction: float = 0.05
    """Share of planned Sentinel-2 acquisitions that never reach the archive."""
    sentinel2_duplicate_fraction: float = 0.04
    """Share of Sentinel-2 scenes that also appear reprocessed (same tile and datetime, newer
    baseline, ``_1_L2A`` suffix): exercises the pipeline's dedupe."""
    sentinel2_wrong_boa_flag_fraction: float = 0.03
    """Share of Sentinel-2 items whose ``earthsearch:boa_offset_applied`` says false although
    their DN carry the +1000 offset, as Earth Search's flag has been wrong (DESIGN.md)."""

    cloud_cover_mean: float = 0.76
    """Target mean cloud fraction over all acquisition dates (tropical: most scenes > 50 %)."""
    cloud_cover_concentration: float = 1.5
    """Beta distribution concentration a + b of per-date cloud fractions. Low: U-shaped, many
    overcast dates and a few clear ones, as in the humid tropics (and shadows then cost less
    clear land than with uniformly half-cloudy dates)."""
    haze_fraction: tuple[float, float] = (0.04, 0.14)
    """Area share of unflagged thin haze beside the clouds, per date."""
    global_haze_max: float = 0.25
    """Scene-wide aerosol haze per date, up to this many units of the haze spectrum (0.01 in
    the blue): shared by the scene, so self-referenced indices remove it."""
    cloud_height_m: tuple[float, float] = (700.0, 2200.0)
    """Cloud height range; with the sun's position it sets how far shadows fall from clouds."""
    cirrus_date_fraction: float = 0.1
    """Share of dates whose thin cloud is flagged as cirrus."""

    landsat_noise: float = 0.005
    """Gaussian noise, reflectance units, per 30 m pixel."""
    sentinel2_noise: float = 0.004
    """Gaussian noise, reflectance units, per native pixel."""
    landsat_psf_sigma_px: float = 0.5
    """Gaussian PSF of OLI, in 30 m pixels."""
    sentinel2_mtf_sigma_px: float = 0.5
    """Gaussian MTF blur of MSI, in native pixels (10 or 20 m)."""
    landsat_shift_sigma_m: float = 3.0
    """Per-scene random misregistration of Landsat tier-1 scenes, each axis."""
    landsat_t2_shift_sigma_m: float = 9.0
    """Tier-2 scenes (very cloudy, few ground control points) are registered worse."""
    landsat_shift_bias_m: tuple[float, float] = (4.0, -3.0)
    """Systematic Landsat-to-Sentinel-2 offset (east, north): Landsat is not tied to ESA's GRI."""
    sentinel2_shift_sigma_m: float = 2.0
    """Per-scene random misregistration of Sentinel-2 (GRI-refined), each axis."""

    small_clearing_ha: tuple[float, float] = (0.05, 5.0)
    """Area range of small clearings; log-uniform, so most are under 1 ha."""
    small_clearings_per_km2_year: float = 2.5
    """Density of small clearings over the AOI grid and the monitoring period."""
    large_clearing_ha: tuple[float, float] = (5.0, 20.0)
    """Area range of the few large clearings."""
    large_clearings_per_km2_year: float = 0.12
    """Density of large clearings (at least one is placed when the AOI has room)."""
    min_clearings: int = 3
    """At least this many small clearings, whatever the AOI size and period."""
    regrowth_days: tuple[int, int] = (30, 120)
    """Small clearings return to forest reflectance over this many days (1–4 months)."""
    large_regrowth_days: tuple[int, int] = (150, 360)
    """Large clearings (farms, logging decks) regrow more slowly."""


DEFAULT_CONFIG: Final = DemoConfig()


def config_dict(config: DemoConfig) -> dict[str, Any]:
    """The configuration as plain JSON-able values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def conditions(config: DemoConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """The stated conditions of a demo world, for benchmark output."""
    return {
        "simulator_version": SIMULATOR_VERSION,
        "region": "Congo Basin lowland forest (UTM, 10 m truth)",
        "landsat": {
            "platforms": ["landsat-8", "landsat-9"],
            "revisit_days_per_platform": config.landsat_revisit_days,
            "revisit_days_combined": config.landsat_revisit_days // 2,
            "resolution_m": 30,
            "psf_sigma_px": config.landsat_psf_sigma_px,
            "noise": config.landsat_noise,
            "shift_sigma_m": config.landsat_shift_sigma_m,
            "shift_bias_m": list(config.landsat_shift_bias_m),
        },
        "sentinel2": {
            "platforms": ["sentinel-2a", "sentinel-2b"],
            "revisit_days_per_platform": config.sentinel2_revisit_days,
            "revisit_days_combined": config.sentinel2_revisit_days // 2,
            "resolution_m": {"blue": 10, "green": 10, "red": 10, "nir": 10, "nir08": 20},
            "missing_fraction": config.sentinel2_missing_fraction,
            "duplicate_fraction": config.sentinel2_duplicate_fraction,
            "wrong_boa_flag_fraction": config.sentinel2_wrong_boa_flag_fraction,
            "bandpass": "inverse HLS v2.0 MSI→OLI adjustment per S2A/S2B",
            "mtf_sigma_px": config.sentinel2_mtf_sigma_px,
            "noise": config.sentinel2_noise,
            "shift_sigma_m": config.sentinel2_shift_sigma_m,
        },
        "clouds": {
            "target_mean_cloud_cover": config.cloud_cover_mean,
            "unflagged_haze_fraction": list(config.haze_fraction),
            "global_haze_max_blue": round(config.global_haze_max * 0.04, 4),
            "cloud_height_m": list(config.cloud_height_m),
            "cirrus_date_fraction": config.cirrus_date_fraction,
        },
        "clearings": {
            "small_ha": list(config.small_clearing_ha),
            "small_per_km2_year": config.small_clearings_per_km2_year,
            "large_ha": list(config.large_clearing_ha),
            "large_per_km2_year": config.large_clearings_per_km2_year,
            "regrowth_days": list(config.regrowth_days),
            "regrowth_months": [config.regrowth_days[0] / 30, config.regrowth_days[1] / 30],
            "large_regrowth_days": list(config.large_regrowth_days),
            "history_days": config.history_days,
        },
        "margin_m": config.margin_m,
    }
