"""DN → reflectance rules per item: scale/offset from the catalogue, the processing baseline.

Used by :func:`fusion.ingest.items.item_bands` and checked against real products by
:mod:`fusion.ingest.safe`. The Sentinel-2 offset follows the item's processing baseline only,
never its date (DESIGN.md, "Band and unit conventions").
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from typing import Any, Final

import pystac

from fusion.catalog.metadata import processing_baseline
from fusion.errors import ItemMetadataError, ScaleOffsetMismatchWarning

# Landsat Collection 2 Level-2 surface reflectance: DN × 2.75e-5 − 0.2 (USGS, "Landsat
# Collection 2 Level-2 Science Products", LSDS-1619). QA bands are bit fields, never scaled.
LANDSAT_C2L2_SCALE: Final = 2.75e-5
LANDSAT_C2L2_OFFSET: Final = -0.2
# Sentinel-2 L2A: reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE, with
# QUANTIFICATION_VALUE 10000 and BOA_ADD_OFFSET −1000 from processing baseline 04.00
# (ESA, "Sentinel-2: new processing baseline 04.00", 2022-01-25), i.e. DN × 1e-4 − 0.1.
S2_L2A_SCALE: Final = 1e-4
S2_L2A_OFFSET_FROM_BASELINE_04: Final = -0.1
S2_BASELINE_WITH_OFFSET: Final = (4, 0)

_TOLERANCE: Final = 1e-9
# Earth Search v0 (sentinel-s2-l2a-cogs) kept the baseline in sentinel:* properties.
_LEGACY_PROP: Final = re.compile(r"^\s*\d{1,2}\.\d{1,2}\s*$")
_LEGACY_NAME: Final = re.compile(r"_N(\d{2})(\d{2})(?:_|$)")


def s2_offset_for_baseline(baseline: tuple[int, int]) -> float:
    """The BOA offset (in reflectance) a Sentinel-2 L2A product of this baseline carries."""
    return S2_L2A_OFFSET_FROM_BASELINE_04 if baseline >= S2_BASELINE_WITH_OFFSET else 0.0


def baseline_of(item: pystac.Item) -> tuple[int, int] | None:
    """processing_baseline(), plus Earth Search v0's ``sentinel:*`` properties (legacy items)."""
    found = processing_baseline(item)
    if found is not None:
        return found
    legacy = item.properties
    value = legacy.get("sentinel:processing_baseline")
    if value is not None and _LEGACY_PROP.match(str(value)):
        major, minor = str(value).strip().split(".")
        return int(major), int(minor)
    match = _LEGACY_NAME.search(str(legacy.get("sentinel:product_id", "")))
    return (int(match.group(1)), int(match.group(2))) if match else None


def landsat_scale_offset(
    item: pystac.Item,
    collection: str,
    fallback: tuple[float | None, float | None],
    declared: list[tuple[float | None, float | None]],
) -> tuple[float, float]:
    scales = {s for s, _ in declared if s is not None}
    offsets = {o for _, o in declared if o is not None}
    if len(scales) > 1 or len(offsets) > 1:
        raise ItemMetadataError(
            f"item {item.id!r} of collection {collection!r}: reflectance bands declare "
            f"different raster:bands scales {sorted(scales)} / offsets {sorted(offsets)}; "
            "fusion applies one scale/offset per item — fix the item's raster:bands"
        )
    scale = scales.pop() if scales else _or(fallback[0], LANDSAT_C2L2_SCALE)
    offset = offsets.pop() if offsets else _or(fallback[1], LANDSAT_C2L2_OFFSET)
    return scale, offset


def s2_scale_offset(
    item: pystac.Item,
    collection: str,
    baseline: tuple[int, int] | None,
    declared: list[tuple[float | None, float | None]],
) -> tuple[float, float]:
    if baseline is None:
        raise ItemMetadataError(
            f"Sentinel-2 item {item.id!r} of collection {collection!r} has no processing "
            "baseline (s2:processing_baseline, or _Nxxyy_ in s2:product_uri or the id), so "
            "its BOA offset (0 or −1000 DN) cannot be decided; add s2:processing_baseline to "
            "the item or drop it"
        )
    offset = s2_offset_for_baseline(baseline)
    base = f"{baseline[0]:02d}.{baseline[1]:02d}"
    problems = [
        f"raster:bands scale {s} (expected {S2_L2A_SCALE})"
        for s in sorted({s for s, _ in declared if s is not None})
        if not math.isclose(s, S2_L2A_SCALE, abs_tol=_TOLERANCE)
    ]
    problems += [
        f"raster:bands offset {o}"
        for o in sorted({o for _, o in declared if o is not None})
        if not math.isclose(o, offset, abs_tol=_TOLERANCE)
    ]
    # earthsearch:boa_offset_applied is not consulted: its meaning has been documented both
    # ways and it has been wrong on real items (Element84/earth-search#9, #66, #71;
    # cirrus-earth-search#33). Every current Earth Search v1 item carries `true` beside a
    # −0.1 raster:bands offset, so warning on it would fire on every scene and teach users to
    # ignore the warning. The baseline rule decides; the physical-range check's dark-pixel
    # test catches a scene whose DNs were in fact harmonised.
    if problems:
        warnings.warn(
            f"item {item.id!r} (baseline {base}): catalogue says {'; '.join(problems)}, but "
            f"baseline {base} means scale {S2_L2A_SCALE}, offset {offset}; using the baseline "
            "rule — silence ScaleOffsetMismatchWarning if the catalogue is known to be wrong",
            ScaleOffsetMismatchWarning,
            stacklevel=3,
        )
    return S2_L2A_SCALE, offset


def raster_scale_offset(asset: pystac.Asset) -> tuple[float | None, float | None]:
    """Scale/offset an asset declares: raster extension v1 (raster:bands) or v2 (raster:scale)."""
    extra: Mapping[str, Any] = asset.extra_fields
    band: Mapping[str, Any] = extra
    for key in ("raster:bands", "bands"):
        listed = extra.get(key)
        if isinstance(listed, list) and listed and isinstance(listed[0], Mapping):
            band = listed[0]
            break
    scale = band.get("scale", band.get("raster:scale", extra.get("raster:scale")))
    offset = band.get("offset", band.get("raster:offset", extra.get("raster:offset")))
    return _float_or_none(scale), _float_or_none(offset)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
