"""QGIS ``.qml`` styles written beside every output, so layers open styled.

Raster styles: paletted (class layers: category labels and colours), pseudocolour ramps
(dates, magnitudes, counts, sigma), RGB (reflectance). Vector: categorised by confidence.
QGIS loads ``<name>.qml`` next to ``<name>.tif`` / ``<name>.gpkg`` automatically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from fusion.export.atomic import atomic_path

_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_PIPE_TAIL = (
    '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
    '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>\n'
    '    <rasterresampler maxOversampling="2"/>\n'
    "  </pipe>\n  <blendMode>0</blendMode>\n</qgis>\n"
)

ALERT_CLASSES: tuple[tuple[int, str, str, int], ...] = (
    (0, "no alert", "#000000", 0),
    (1, "provisional", "#ffbe00", 255),
    (2, "confirmed", "#dc0000", 255),
)
"""Confidence classes: value, label, colour, alpha."""


def _raster(renderer: str) -> str:
    return (
        _HEADER
        + '<qgis version="3.28" styleCategories="AllStyleCategories">\n  <pipe>\n'
        + renderer
        + _PIPE_TAIL
    )


def paletted(classes: Sequence[tuple[int, str, str, int]], *, band: int = 1) -> str:
    """Class layer: one colour and label per value."""
    entries = "".join(
        f'        <paletteEntry value="{value}" color="{colour}" alpha="{alpha}" label={quoteattr(label)}/>\n'
        for value, label, colour, alpha in classes
    )
    return _raster(
        f'    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1">\n'
        "      <rasterTransparency/>\n"
        f"      <colorPalette>\n{entries}      </colorPalette>\n"
        "    </rasterrenderer>\n"
    )


def pseudocolor(
    stops: Sequence[tuple[float, str, str]], *, band: int = 1, discrete: bool = False
) -> str:
    """Continuous layer: a colour ramp through ``(value, colour, label)`` stops."""
    low, high = stops[0][0], stops[-1][0]
    items = "".join(
        f'          <item value="{value:g}" color="{colour}" alpha="255" label={quoteattr(label)}/>\n'
        for value, colour, label in stops
    )
    kind = "DISCRETE" if discrete else "INTERPOLATED"
    return _raster(
        f'    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" '
        f'alphaBand="-1" classificationMin="{low:g}" classificationMax="{high:g}">\n'
        "      <rasterTransparency/>\n      <rastershader>\n"
        f'        <colorrampshader colorRampType="{kind}" classificationMode="1" clip="0" '
        f'minimumValue="{low:g}" maximumValue="{high:g}">\n{items}'
        "        </colorrampshader>\n      </rastershader>\n    </rasterrenderer>\n"
    )


def rgb(*, red: int, green: int, blue: int, maxima: tuple[float, float, float]) -> str:
    """Reflectance composite: three bands stretched from 0 to ``maxima``."""

    def enhancement(name: str, maximum: float) -> str:
        return (
            f"      <{name}ContrastEnhancement><minValue>0</minValue><maxValue>{maximum:g}</maxValue>"
            f"<algorithm>StretchToMinimumMaximum</algorithm></{name}ContrastEnhancement>\n"
        )

    return _raster(
        f'    <rasterrenderer type="multibandcolor" redBand="{red}" greenBand="{green}" '
        f'blueBand="{blue}" opacity="1" alphaBand="-1">\n      <rasterTransparency/>\n'
        + enhancement("red", maxima[0])
        + enhancement("green", maxima[1])
        + enhancement("blue", maxima[2])
        + "    </rasterrenderer>\n"
    )


def alert_polygons_style(attribute: str = "confidence") -> str:
    """Alert polygons: categorised by confidence, outlined, translucent fill."""
    categories = "".join(
        f'      <category value="{value}" symbol="{i}" label={quoteattr(label)} render="true"/>\n'
        for i, (value, label, _, _) in enumerate(ALERT_CLASSES[1:])
    )
    symbols = "".join(
        _fill_symbol(i, colour) for i, (_, _, colour, _) in enumerate(ALERT_CLASSES[1:])
    )
    return (
        _HEADER
        + '<qgis version="3.28" styleCategories="AllStyleCategories">\n'
        + f'  <renderer-v2 type="categorizedSymbol" attr="{attribute}" symbollevels="0" '
        'enableorderby="0" forceraster="0">\n'
        + f"    <categories>\n{categories}    </categories>\n"
        + f"    <symbols>\n{symbols}    </symbols>\n"
        + "  </renderer-v2>\n</qgis>\n"
    )


def _fill_symbol(name: int, colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    options = {
        "color": f"{r},{g},{b},80",
        "outline_color": f"{r},{g},{b},255",
        "outline_width": "0.5",
        "style": "solid",
    }
    body = "".join(
        f'            <Option name="{k}" value="{v}" type="QString"/>\n' for k, v in options.items()
    )
    return (
        f'      <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
        '        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
        f'          <Option type="Map">\n{body}          </Option>\n'
        "        </layer>\n      </symbol>\n"
    )


def write_style(style: str, data_path: Path) -> Path:
    """Write ``style`` as the ``.qml`` beside ``data_path`` (atomically)."""
    path = data_path.with_suffix(".qml")
    with atomic_path(path) as tmp:
        tmp.write_text(style, encoding="utf-8")
    return path
