"""The QGIS project file: relative sources, embedded styles, groups, CRS and view extent.

Built on small hand-made outputs; tests/export/test_qgis_render.py opens a real run's project
in QGIS.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from odc.geo.geom import box as odc_box
from rasterio.transform import from_origin
from shapely.geometry import box

from fusion.export.manifest import OutputRecord, RunManifest, TileRecord
from fusion.export.qgis_project import PROJECT_NAME, write_qgis_project
from fusion.export.styles import (
    ALERT_CLASSES,
    alert_polygons_style,
    paletted,
    pseudocolor,
    rgb,
    write_style,
)

AOI = (24.450, 0.785, 24.465, 0.800)
RAMP = pseudocolor([(0.0, "#000000", "0"), (1.0, "#ffffff", "1")])
COMPOSITE = rgb(red=3, green=2, blue=1, maxima=(0.1, 0.1, 0.1))
ITEMS = ("LC09_L2SP_176059_20230106_02_T1", "LC08_L2SP_176059_20230114_02_T1")


def _raster(path: Path, crs: str, *, bands: int = 1, tags: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": bands, "dtype": "uint8"}
    with rasterio.open(
        path, "w", crs=crs, transform=from_origin(216_180, 88_530, 10, 10), **profile
    ) as dst:
        dst.write(np.ones((bands, 4, 4), "uint8"))
        dst.update_tags(**(tags or {}))


def _outputs(folder: Path, tiles: dict[str, str]) -> RunManifest:
    """A run's folder: per tile the alert, composite and fused layers; polygons; a STAC file."""
    records = []
    for tile, crs in tiles.items():
        layers = {
            "composite": (COMPOSITE, 6),
            "valid_observations": (RAMP, 2),
            "confidence": (paletted(ALERT_CLASSES), 1),
            "alert_date": (RAMP, 1),
            "magnitude": (RAMP, 1),
        }
        for kind, (style, bands) in layers.items():
            path = folder / tile / f"{kind}.tif"
            _raster(path, crs, bands=bands)
            write_style(style, path)
            records.append(OutputRecord(path=f"{tile}/{kind}.tif", kind=kind, tile=tile, bytes=1))
        for item in ITEMS:
            date = dt.datetime.strptime(item.split("_")[3], "%Y%m%d").date().isoformat()
            for kind, name in (("fused", item), ("fused_sigma", f"{item}_sigma")):
                path = folder / tile / "fused" / f"{name}.tif"
                _raster(path, crs, bands=6, tags={"FUSION_DATE": date})
                write_style(COMPOSITE if kind == "fused" else RAMP, path)
                records.append(
                    OutputRecord(path=f"{tile}/fused/{name}.tif", kind=kind, tile=tile, bytes=1)
                )
    gpkg = folder / "alerts.gpkg"
    gpd.GeoDataFrame({"confidence": [2]}, geometry=[box(*AOI)], crs="EPSG:4326").to_file(
        gpkg, layer="alerts"
    )
    write_style(alert_polygons_style(), gpkg)
    records.append(OutputRecord(path="alerts.gpkg", kind="alert_polygons", bytes=1))
    (folder / "stac").mkdir()
    (folder / "stac" / "collection.json").write_text("{}")
    records.append(OutputRecord(path="stac/collection.json", kind="stac", bytes=1))
    return RunManifest(
        run_id="20240101T000000Z-abcdef",
        status="complete",
        started=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        parameters={},
        period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)),
        aoi={"bounds_wgs84": list(AOI)},
        source="demo",
        tiles=[
            TileRecord(id=tile, crs=crs, shape=(4, 4), bounds=(0, 0, 1, 1))
            for tile, crs in tiles.items()
        ],
        outputs=records,
    )


def _read(folder: Path) -> ET.Element:
    with zipfile.ZipFile(folder / PROJECT_NAME) as archive:
        assert archive.namelist() == ["project.qgs"]
        return ET.fromstring(archive.read("project.qgs"))


@pytest.fixture
def one_zone(tmp_path: Path) -> tuple[Path, ET.Element]:
    manifest = _outputs(tmp_path, {"35N_0210_00075": "EPSG:32635"})
    assert write_qgis_project(manifest, tmp_path) == tmp_path / PROJECT_NAME
    return tmp_path, _read(tmp_path)


def test_sources_are_relative_and_exist(one_zone: tuple[Path, ET.Element]) -> None:
    folder, root = one_zone
    sources = [e.text or "" for e in root.iter("datasource")]
    assert len(sources) == 5 + 2 * len(ITEMS) + 1  # rasters, fused pairs, polygons; no STAC
    for source in sources:
        assert source.startswith("./"), source
        assert (folder / source.split("|")[0]).is_file(), source
    assert "./alerts.gpkg|layername=alerts" in sources
    assert str(folder) not in ET.tostring(root, encoding="unicode")
    assert root.findtext("properties/Paths/Absolute") == "false"
    assert not list(folder.glob(".*partial*"))


def test_layer_tree_groups_tiles_and_hides_the_fused_series(
    one_zone: tuple[Path, ET.Element],
) -> None:
    _, root = one_zone
    tree = root.find("layer-tree-group")
    assert tree is not None
    top = list(tree)
    assert [(e.tag, e.get("name"), e.get("checked")) for e in top] == [
        ("layer-tree-layer", "alert polygons", "Qt::Checked"),
        ("layer-tree-group", "35N_0210_00075", "Qt::Checked"),
    ]
    names = [(e.tag, e.get("name"), e.get("checked")) for e in top[1]]
    assert names == [
        ("layer-tree-layer", "confidence", "Qt::Checked"),
        ("layer-tree-layer", "alert date", "Qt::Unchecked"),
        ("layer-tree-layer", "magnitude", "Qt::Unchecked"),
        ("layer-tree-group", "fused series", "Qt::Unchecked"),
        ("layer-tree-layer", "composite", "Qt::Checked"),
        ("layer-tree-layer", "clear observations", "Qt::Unchecked"),
    ]
    fused = top[1][3]
    assert fused.get("expanded") == "0"
    assert [e.get("name") for e in fused] == [
        "2023-01-06 LC09_L2SP_176059_20230106_02_T1",
        "2023-01-06 LC09_L2SP_176059_20230106_02_T1_sigma",
        "2023-01-14 LC08_L2SP_176059_20230114_02_T1",
        "2023-01-14 LC08_L2SP_176059_20230114_02_T1_sigma",
    ]
    tree_ids = sorted(e.get("id") or "" for e in tree.iter("layer-tree-layer"))
    assert tree_ids == sorted(e.findtext("id") or "" for e in root.iter("maplayer"))
    assert len(set(tree_ids)) == len(tree_ids)


def test_each_layer_embeds_the_style_beside_its_file(one_zone: tuple[Path, ET.Element]) -> None:
    folder, root = one_zone
    for layer in root.iter("maplayer"):
        path = folder / (layer.findtext("datasource") or "").split("|")[0]
        style = ET.parse(path.with_suffix(".qml")).getroot()
        if layer.get("type") == "raster":
            assert layer.findtext("provider") == "gdal"
            found = layer.find("pipe/rasterrenderer")
            expected = style.find("pipe/rasterrenderer")
        else:
            assert layer.findtext("provider") == "ogr"
            found = layer.find("renderer-v2")
            expected = style.find("renderer-v2")
        assert found is not None and expected is not None, path
        assert found.attrib == expected.attrib
        assert len(list(found.iter())) == len(list(expected.iter()))
        assert layer.findtext("srs/spatialrefsys/authid") == (
            "EPSG:4326" if path.suffix == ".gpkg" else "EPSG:32635"
        )
    confidence = root.find("projectlayers/maplayer[layername='confidence']")
    assert confidence is not None
    labels = [e.get("label") for e in confidence.iter("paletteEntry")]
    assert labels == [label for _, label, _, _ in ALERT_CLASSES]


def test_crs_and_view_extent_cover_the_aoi(one_zone: tuple[Path, ET.Element]) -> None:
    _, root = one_zone
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:32635"
    assert root.findtext("properties/SpatialRefSys/ProjectionsEnabled") == "1"
    view = root.find("ProjectViewSettings/DefaultViewExtent")
    assert view is not None
    expected = odc_box(*AOI, "EPSG:4326").to_crs("EPSG:32635").boundingbox
    found = [float(view.get(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")]
    np.testing.assert_allclose(found, list(expected), atol=0.01)
    assert root.findtext("mapcanvas/extent/xmin") == view.get("xmin")
    assert root.findtext("mapcanvas/destinationsrs/spatialrefsys/authid") == "EPSG:32635"


def test_tiles_in_two_zones_get_a_geographic_project(tmp_path: Path) -> None:
    manifest = _outputs(tmp_path, {"35N_0210_00075": "EPSG:32635", "34N_0900_00075": "EPSG:32634"})
    write_qgis_project(manifest, tmp_path)
    root = _read(tmp_path)
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:4326"
    tree = root.find("layer-tree-group")
    assert tree is not None
    assert [e.get("name") for e in tree] == ["alert polygons", "35N_0210_00075", "34N_0900_00075"]
    view = root.find("ProjectViewSettings/DefaultViewExtent")
    assert view is not None
    assert [float(view.get(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")] == pytest.approx(
        AOI
    )


def test_outputs_carried_over_from_the_published_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An incremental run stages only changed tiles; the manifest also lists unchanged ones.
    out = tmp_path / "out"
    manifest = _outputs(out, {"35N_0210_00075": "EPSG:32635"})
    staging = out / ".staging-run"
    staging.mkdir()
    manifest.outputs.append(
        OutputRecord(
            path="35N_0210_00075/gone.tif", kind="magnitude", tile="35N_0210_00075", bytes=1
        )
    )
    write_qgis_project(manifest, staging, published=out)
    root = _read(staging)
    sources = [e.text or "" for e in root.iter("datasource")]
    assert len(sources) == 5 + 2 * len(ITEMS) + 1
    assert all((out / s.split("|")[0]).is_file() for s in sources)
    assert "35N_0210_00075/gone.tif is in the manifest but not on disk" in caplog.text
