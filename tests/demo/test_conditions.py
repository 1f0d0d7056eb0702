"""The demo world meets its stated conditions: revisits, tropical cloud, clearings."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import numpy as np
import pytest
from demo_helpers import END, SMALL_CONFIG, START, item_documents
from odc.geo.geobox import GeoBox

from fusion.demo import DEMO_CONDITIONS, DemoCatalog, demo_truth
from fusion.demo.config import DEFAULT_CONFIG
from fusion.demo.files import read_array, read_clearings
from fusion.demo.schedule import LANDSAT, SENTINEL2, Acquisition, plan, site_of

DEFAULT_AOI = GeoBox.from_bbox((215_490, 86_160, 219_210, 89_640), crs="EPSG:32635", resolution=10)
DEFAULT_START, DEFAULT_END = dt.date(2023, 1, 1), dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def default_plan() -> list[Acquisition]:
    """The acquisitions of the default demo run (schedule only: no pixels)."""
    return plan(
        site_of(DEFAULT_AOI), start=DEFAULT_START, end=DEFAULT_END, seed=0, config=DEFAULT_CONFIG
    )


def test_revisits_as_stated(default_plan: list[Acquisition]) -> None:
    days: dict[str, list[dt.date]] = defaultdict(list)
    for acq in default_plan:
        if acq.sequence == 0:
            days[acq.platform].append(acq.date)
    assert set(days) == {"landsat-8", "landsat-9", "sentinel-2a", "sentinel-2b"}
    for platform, dates in days.items():
        gaps = np.diff([d.toordinal() for d in dates])
        step = 16 if platform.startswith("landsat") else 10
        assert set(gaps % step) == {0}, platform
        if platform.startswith("landsat"):
            assert set(gaps) == {16}  # Landsat never misses a pass here
    offset = (days["landsat-9"][0] - days["landsat-8"][0]).days % 16
    assert offset == 8
    assert (days["sentinel-2b"][0] - days["sentinel-2a"][0]).days % 10 == 5
    planned = sum(
        ((DEFAULT_END - DEFAULT_START).days + 1) / 10 for _ in ("sentinel-2a", "sentinel-2b")
    )
    missing = 1 - (len(days["sentinel-2a"]) + len(days["sentinel-2b"])) / planned
    assert 0.0 < missing < 0.15
    assert DEMO_CONDITIONS["landsat"]["revisit_days_combined"] == 8
    assert DEMO_CONDITIONS["sentinel2"]["revisit_days_combined"] == 5
    assert json.loads(json.dumps(DEMO_CONDITIONS)) == DEMO_CONDITIONS  # printable as is


def test_default_plan_is_cloudy_and_has_duplicates(default_plan: list[Acquisition]) -> None:
    fractions = np.array([a.sky.fraction for a in default_plan])
    assert fractions.mean() >= 0.70
    assert (fractions > 0.5).mean() > 0.5
    duplicates = [a for a in default_plan if a.sequence == 1]
    assert duplicates
    for dup in duplicates:
        (first,) = [
            a
            for a in default_plan
            if a.platform == dup.platform and a.datetime == dup.datetime and a.sequence == 0
        ]
        assert str(dup.baseline) > str(first.baseline)
        assert dup.created > first.created
    assert {a.collection for a in default_plan} == {LANDSAT, SENTINEL2}


def test_generated_scenes_are_mostly_cloudy(small_catalog: DemoCatalog) -> None:
    cover = np.array([d["properties"]["eo:cloud_cover"] for d in item_documents(small_catalog)])
    assert cover.mean() >= 70
    assert (cover > 50).mean() > 0.5


def test_clearings_within_sizes_and_dates(small_catalog: DemoCatalog) -> None:
    clearings = read_clearings(small_catalog.truth_dir)
    assert len(clearings) >= SMALL_CONFIG.min_clearings
    first = START + dt.timedelta(days=SMALL_CONFIG.history_days)
    last = END - dt.timedelta(days=SMALL_CONFIG.end_buffer_days)
    ids = read_array(small_catalog.truth_dir / "clearing_id.tif")
    for row in clearings.itertuples():
        lo, hi = (
            SMALL_CONFIG.small_clearing_ha
            if row.kind == "smallholder"
            else SMALL_CONFIG.large_clearing_ha
        )
        assert lo - 1e-6 <= row.area_ha <= hi + 1e-6
        assert row.geometry.area / 1e4 == pytest.approx(row.area_ha, rel=1e-3)
        assert first <= row.clear_date <= last
        regrowth = (
            SMALL_CONFIG.regrowth_days
            if row.kind == "smallholder"
            else SMALL_CONFIG.large_regrowth_days
        )
        assert regrowth[0] <= row.regrowth_days <= regrowth[1]
        pixels = int((ids == row.id).sum())
        assert pixels > 0 and pixels * 0.01 == pytest.approx(row.area_ha, rel=0.5, abs=0.05)
    assert (clearings.kind == "large").sum() >= 1
    small = clearings[clearings.kind == "smallholder"]
    assert (small.area_ha < 1).mean() > 0.5  # most small clearings are under 1 ha


def test_clearings_appear_then_regrow(small_catalog: DemoCatalog) -> None:
    clearings = read_clearings(small_catalog.truth_dir)
    ids = read_array(small_catalog.truth_dir / "clearing_id.tif")
    row = clearings.sort_values("area_ha", ascending=False).iloc[0]
    inside = ids == row.id
    one_day = dt.timedelta(days=1)
    before = demo_truth(small_catalog, row.clear_date - one_day).sel(band="swir16").values[inside]
    on = demo_truth(small_catalog, row.clear_date).sel(band="swir16").values[inside]
    later = row.clear_date + dt.timedelta(days=int(row.regrowth_days) // 2)
    half = demo_truth(small_catalog, later).sel(band="swir16").values[inside]
    healed = row.clear_date + dt.timedelta(days=int(row.regrowth_days))
    after = demo_truth(small_catalog, healed).sel(band="swir16").values[inside]
    # SWIR rises sharply on the clear date, then returns gradually to the forest value.
    assert on.mean() > before.mean() + 0.08
    assert before.mean() < half.mean() < on.mean()
    np.testing.assert_allclose(after, before, atol=1e-6)
    red = demo_truth(small_catalog, np.datetime64(row.clear_date)).sel(band="red").values
    assert red[inside].mean() > 2 * red[ids == 0].mean()


def test_truth_is_a_georeferenced_float32_array(small_catalog: DemoCatalog) -> None:
    truth = demo_truth(small_catalog, START)
    assert truth.dtype == np.float32 and truth.dims == ("band", "y", "x")
    assert list(truth.band.values) == ["blue", "green", "red", "nir08", "swir16", "swir22"]
    assert truth.odc.geobox == small_catalog.geobox
    forest = read_array(small_catalog.truth_dir / "classes.tif") == 1
    nir, red = truth.sel(band="nir08").values[forest], truth.sel(band="red").values[forest]
    assert 0.25 < np.median(nir) < 0.35 and 0.015 < np.median(red) < 0.035
