"""Sentinel-2 L2A SAFE products: the radiometric offset from ``MTD_MSIL2A.xml``, and scaled bands.

The product metadata is the ground truth the catalogue rule is checked against: reflectance =
(DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE per band, where BOA_ADD_OFFSET is −1000 from
processing baseline 04.00 (ESA, S2 L2A Product Specification, PSD 14.9). Readers open files
only when called; :func:`read_safe_band` returns a lazy, chunked array.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import rioxarray
import xarray as xr

from fusion.errors import ItemMetadataError
from fusion.ingest.radiometry import s2_offset_for_baseline
from fusion.ingest.scaling import dn_to_reflectance

METADATA_NAME: Final = "MTD_MSIL2A.xml"
# Sen2Cor names bands without the leading zero in Spectral_Information ("B2", "B8A").
_CANONICAL_NAME: Final = {f"B{i}": f"B{i:02d}" for i in range(1, 13)} | {"B8A": "B8A"}


@dataclass(frozen=True)
class SafeRadiometry:
    """Radiometric metadata of one L2A product."""

    product: str
    """Product name (the .SAFE folder name)."""
    baseline: tuple[int, int]
    """PROCESSING_BASELINE as (major, minor)."""
    quantification: float
    """BOA_QUANTIFICATION_VALUE (10000)."""
    boa_add_offset: Mapping[str, int]
    """Band name ("B04", "B8A", …) → BOA_ADD_OFFSET in DN (−1000 from baseline 04.00, else 0)."""

    def scale(self) -> float:
        """Reflectance per DN."""
        return 1.0 / self.quantification

    def offset(self, band: str) -> float:
        """Reflectance offset of a band: BOA_ADD_OFFSET / QUANTIFICATION (−0.1 or 0)."""
        return self.boa_add_offset.get(band, 0) / self.quantification

    def agrees_with_baseline_rule(self) -> bool:
        """True when every band's offset equals the one the item-level baseline rule picks."""
        expected = s2_offset_for_baseline(self.baseline)
        bands = self.boa_add_offset or {"*": 0}
        return all(abs(self.offset(b) - expected) < 1e-9 for b in bands)


def read_safe_radiometry(safe: Path) -> SafeRadiometry:
    """Parse PROCESSING_BASELINE, BOA_QUANTIFICATION_VALUE and BOA_ADD_OFFSET of a SAFE product.

    Products before baseline 04.00 have no BOA_ADD_OFFSET list: offset 0 for every band.
    """
    path = safe / METADATA_NAME if safe.is_dir() else safe
    product = (path.parent if path.name == METADATA_NAME else path).name
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ItemMetadataError(
            f"SAFE product {product!r}: cannot read {path} ({exc}); point at the .SAFE folder "
            "or its MTD_MSIL2A.xml"
        ) from exc
    baseline_text = _text(root, "PROCESSING_BASELINE")
    quant_text = _text(root, "BOA_QUANTIFICATION_VALUE")
    if baseline_text is None or quant_text is None:
        raise ItemMetadataError(
            f"SAFE product {product!r}: {path.name} lacks PROCESSING_BASELINE or "
            "BOA_QUANTIFICATION_VALUE; is it an L2A product metadata file?"
        )
    major, minor = (int(p) for p in baseline_text.strip().split("."))
    band_names = {
        el.get("bandId"): _CANONICAL_NAME.get(el.get("physicalBand", ""), el.get("physicalBand"))
        for el in root.iter()
        if _local(el.tag) == "Spectral_Information"
    }
    offsets = {
        str(band_names.get(el.get("band_id"), el.get("band_id"))): int(float(el.text or 0))
        for el in root.iter()
        if _local(el.tag) == "BOA_ADD_OFFSET"
    }
    return SafeRadiometry(
        product=product,
        baseline=(major, minor),
        quantification=float(quant_text),
        boa_add_offset=MappingProxyType(offsets),
    )


def find_band_file(safe: Path, band: str, resolution: int) -> Path:
    """The JP2 of ``band`` ("B04", "SCL", …) at ``resolution`` metres inside a SAFE folder."""
    matches = sorted(safe.glob(f"GRANULE/*/IMG_DATA/R{resolution}m/*_{band}_{resolution}m.jp2"))
    if not matches:
        raise ItemMetadataError(
            f"SAFE product {safe.name!r}: no {band} band at {resolution} m under "
            f"GRANULE/*/IMG_DATA/R{resolution}m; pick a resolution the product has"
        )
    return matches[0]


def read_safe_band(
    safe: Path, band: str, *, resolution: int = 60, chunks: int = 512
) -> xr.DataArray:
    """A band of a SAFE product as a lazy (y, x) DN array (uint16, or uint8 for SCL)."""
    path = find_band_file(safe, band, resolution)
    da = rioxarray.open_rasterio(path, chunks={"x": chunks, "y": chunks}, lock=False)
    assert isinstance(da, xr.DataArray)
    return da.squeeze("band", drop=True).rename(band)


def safe_reflectance(
    safe: Path,
    bands: tuple[str, ...],
    *,
    resolution: int = 60,
    radiometry: SafeRadiometry | None = None,
    chunks: int = 512,
) -> xr.DataArray:
    """Lazy float32 (band, y, x) reflectance of SAFE bands, offsets from the product metadata.

    Pass a ``radiometry`` to override the metadata (tests use it to apply a wrong offset).
    """
    radiometry = radiometry or read_safe_radiometry(safe)
    layers = [
        dn_to_reflectance(
            read_safe_band(safe, b, resolution=resolution, chunks=chunks),
            radiometry.scale(),
            radiometry.offset(b),
        )
        for b in bands
    ]
    out = xr.concat(layers, dim="band").assign_coords(band=list(bands))
    return out.astype(np.float32)


def _text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
