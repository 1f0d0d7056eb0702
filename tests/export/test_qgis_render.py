"""Every output of a run opens in real QGIS, takes its style and renders; so does the project.

QGIS's Python bindings belong to the system Python (Debian's python3-qgis), not to the
virtual environment, so ``qgis_render.py`` runs there in a subprocess (offscreen Qt, a
throw-away home folder so no QGIS profile leaks) and reports what QGIS saw as JSON. Skipped
where QGIS is missing; CI installs it (see .ci/run) and fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _requirements import require

pytestmark = pytest.mark.slow

QGIS_PYTHON = os.environ.get("FUSION_QGIS_PYTHON", "/usr/bin/python3")
SCRIPT = Path(__file__).with_name("qgis_render.py")
TILE_CRS = "EPSG:32635"
# Variables that would point QGIS's Python and GDAL at the virtual environment's copies.
_LEAKY = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "GDAL_DATA",
    "GDAL_DRIVER_PATH",
    "PROJ_DATA",
    "PROJ_LIB",
)


def _qgis_env(home: Path) -> dict[str, str]:
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), QT_QPA_PLATFORM="offscreen")
    return env


@pytest.fixture(scope="module")
def qgis_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = _qgis_env(tmp_path_factory.mktemp("qgis-home"))
    try:
        found = (
            subprocess.run(
                [QGIS_PYTHON, "-c", "import qgis.core"], env=env, capture_output=True, timeout=60
            ).returncode
            == 0
        )
    except OSError:
        found = False
    require(
        found,
        f"QGIS Python bindings not importable by {QGIS_PYTHON}; install python3-qgis and "
        "qgis-providers (apt) or set FUSION_QGIS_PYTHON",
    )
    return env


@pytest.fixture(scope="module")
def demo_run(sentinel2_run: Path) -> Path:
    return sentinel2_run


@pytest.fixture(scope="module")
def report(
    qgis_env: dict[str, str], demo_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """QGIS's view of every output (where written) and of the project in a moved copy."""
    work = tmp_path_factory.mktemp("qgis-report")
    moved = shutil.copytree(demo_run, work / "moved")
    request = {
        "layers": [
            {"path": str(path), "style": str(path.with_suffix(".qml"))}
            | ({"table": "alerts"} if path.suffix == ".gpkg" else {})
            for path in _layer_files(demo_run)
        ],
        "project": str(moved / "project.qgz"),
        "images": str(work / "images"),
    }
    (work / "request.json").write_text(json.dumps(request))
    done = subprocess.run(
        [QGIS_PYTHON, str(SCRIPT), str(work / "request.json")],
        env=qgis_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout)
    found["moved"] = str(moved)
    return found


def _layer_files(out: Path) -> list[Path]:
    manifest = json.loads((out / "manifest.json").read_text())
    paths = [out / o["path"] for o in manifest["outputs"]]
    return [p for p in paths if p.suffix in (".tif", ".gpkg")]


def _classes(out: Path) -> set[int]:
    """The confidence classes present in a run's confidence layer."""
    with rasterio.open(next(p for p in _layer_files(out) if p.stem == "confidence")) as src:
        return {int(v) for v in np.unique(src.read(1, masked=True).compressed())}


def _style_type(path: Path) -> str | None:
    """The renderer type the ``.qml`` beside ``path`` asks for."""
    style = ET.parse(path.with_suffix(".qml")).getroot()
    renderer = style.find("pipe/rasterrenderer")
    if renderer is None:
        renderer = style.find("renderer-v2")
    return None if renderer is None else renderer.get("type")


def test_run_writes_a_project(demo_run: Path) -> None:
    manifest = json.loads((demo_run / "manifest.json").read_text())
    (record,) = [o for o in manifest["outputs"] if o["kind"] == "qgis_project"]
    assert record["path"] == "project.qgz"
    assert (demo_run / "project.qgz").stat().st_size == record["bytes"]


def test_every_output_opens_styled_and_renders(report: dict[str, Any], demo_run: Path) -> None:
    layers = {Path(entry["path"]): entry for entry in report["layers"]}
    files = _layer_files(demo_run)
    assert {p.stem for p in files} >= {
        "composite",
        "valid_observations",
        "confidence",
        "alert_date",
        "confirmed_date",
        "magnitude",
        "valid_count",
        "alerts",
    }
    for path in files:
        entry = layers[path]
        assert entry["valid"], path
        assert entry["styled"], (path, entry["style_message"])
        assert entry["crs"] == ("EPSG:4326" if path.suffix == ".gpkg" else TILE_CRS)
        assert entry["renderer"]["type"] == _style_type(path), path
        assert entry["render"]["errors"] == [], path
        assert entry["render"]["painted"] > 0, f"{path} rendered blank"
    by_stem = {p.stem: layers[p] for p in files}
    assert by_stem["composite"]["renderer"]["bands"] == [3, 2, 1]
    assert by_stem["confidence"]["renderer"]["classes"]["2.0"] == "confirmed"
    # Alert classes in their style's colours: provisional amber, confirmed red, each where the
    # run has it (edge trimming can leave a small run without provisional pixels).
    present = _classes(demo_run)
    assert 2 in present
    expected = {(220, 0, 0)} | ({(255, 190, 0)} if 1 in present else set())
    for stem in ("confidence", "alerts"):
        colours = {tuple(c[:3]) for c in by_stem[stem]["render"]["colours"]}
        assert expected <= colours, stem
    # The composite covers the AOI; the alert classes only their patches.
    pixels = by_stem["composite"]["render"]["pixels"]
    assert by_stem["composite"]["render"]["painted"] > 0.9 * pixels
    assert by_stem["confidence"]["render"]["painted"] < 0.2 * pixels


def test_project_opens_from_a_moved_folder_and_renders(
    report: dict[str, Any], demo_run: Path
) -> None:
    project = report["project"]
    assert project["read"]
    assert project["crs"] == TILE_CRS
    assert project["absolute_paths"] is False
    layers = project["layers"]
    assert len(layers) == len(_layer_files(demo_run))
    for layer in layers:
        assert layer["valid"], layer["source"]
        assert layer["source"].startswith(report["moved"]), layer["source"]
        path = Path(layer["source"].split("|")[0])
        assert layer["renderer"]["type"] == _style_type(path), path
        assert layer["render"]["painted"] > 0, f"{layer['name']} rendered blank"
    tree = project["tree"]
    (tile,) = json.loads((demo_run / "manifest.json").read_text())["tiles"]
    assert [node["name"] for node in tree] == ["alert polygons", tile["id"]]
    assert project["shown"] == ["alert polygons", "confidence", "composite"]
    render = project["render"]
    assert render["errors"] == []
    assert render["painted"] > 0.9 * render["pixels"]  # the AOI view is filled by the composite
    # The alert classes the run has show through on top of the composite.
    present = _classes(demo_run)
    assert (render["class_pixels"]["provisional"] > 0) == (1 in present)
    assert render["class_pixels"]["confirmed"] > 0
    manifest = json.loads((demo_run / "manifest.json").read_text())
    left, bottom, right, top = manifest["tiles"][0]["bounds"]
    xmin, ymin, xmax, ymax = project["view_extent"]
    assert left - 1 <= xmin < xmax <= right + 1 and bottom - 1 <= ymin < ymax <= top + 1
