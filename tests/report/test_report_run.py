"""report.html of a real demo run: self-contained, every section, links and counts true.

Runs the Sentinel-2 series (no network inference) over 18 months of a small demo AOI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest

from fusion.export.alerts import ALERTS_LAYER
from fusion.pipeline.runner import ALERTS_GPKG
from fusion.report import REPORT_NAME

pytestmark = pytest.mark.slow

SECTIONS = ("header", "map", "alerts", "series", "valid", "shifts", "sigma")


@pytest.fixture(scope="module")
def demo_run(sentinel2_run: Path) -> tuple[Path, dict]:
    return sentinel2_run, json.loads((sentinel2_run / "manifest.json").read_text())


def _sections(page: str) -> dict[str, str]:
    parts = re.split(r'<section id="', page)[1:]
    return {p.split('"', 1)[0]: p for p in parts}


def test_report_is_written_and_self_contained(demo_run: tuple[Path, dict]) -> None:
    out, manifest = demo_run
    report = out / REPORT_NAME
    assert report.is_file()
    assert {"path": REPORT_NAME, "kind": "report"}.items() <= next(
        o for o in manifest["outputs"] if o["kind"] == "report"
    ).items()
    assert "report" in manifest["timings_s"]
    page = report.read_text(encoding="utf-8")
    assert tuple(_sections(page)) == SECTIONS
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= 5
    assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_report_links_resolve(demo_run: tuple[Path, dict]) -> None:
    out, manifest = demo_run
    page = (out / REPORT_NAME).read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]+)"', page)
    # Every output but the report and the STAC catalogue, which is written last to list both.
    listed = {o["path"] for o in manifest["outputs"] if o["kind"] not in ("report", "stac")}
    assert set(hrefs) >= listed
    for href in hrefs:
        assert (out / href).is_file(), href


def test_report_counts_equal_the_run_polygons(demo_run: tuple[Path, dict]) -> None:
    out, manifest = demo_run
    polygons = gpd.read_file(out / ALERTS_GPKG, layer=ALERTS_LAYER)
    ours = polygons[polygons["run_id"] == manifest["run_id"]]
    assert len(ours) >= 3  # the demo AOI has clearings: the table and the series have data
    sections = _sections((out / REPORT_NAME).read_text(encoding="utf-8"))
    total = re.search(r"<td>total</td>(.*?)</tr>", sections["alerts"], re.S)
    assert total is not None
    cells = re.findall(r"<td>([^<]*)</td>", total.group(1))
    provisional, confirmed = (ours["confidence"] == 1).sum(), (ours["confidence"] == 2).sum()
    assert [int(cells[0]), int(cells[2]), int(cells[4])] == [provisional, confirmed, len(ours)]
    assert float(cells[5]) == pytest.approx(ours["area_ha"].sum(), abs=0.01)
    # One series chart per largest alert, and the single-sensor sections say why they are empty.
    assert sections["series"].count("data:image/png") == 3
    assert "No Landsat/Sentinel-2 pairs" in sections["shifts"]
    assert "could not be drawn" not in "".join(sections.values())
