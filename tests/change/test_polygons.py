"""Edge trimming, minimum mapping unit and alert polygons."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from _change_helpers import grid
from odc.geo.xr import xr_coords

from fusion.change.polygons import (
    COLUMNS,
    alert_polygons,
    apply_mmu,
    pixel_area_ha,
    trim_edges,
)
from fusion.errors import MonitorInputError

T0 = np.datetime64("2021-03-01", "ns")


def _alerts(conf: np.ndarray, res: float = 10.0) -> xr.Dataset:
    ny, nx = conf.shape
    coords = xr_coords(grid(ny, nx, res))
    on = conf > 0
    day = np.timedelta64(1, "D")
    date = np.where(on, T0 + np.arange(nx)[None, :] * day, np.datetime64("NaT")).astype(
        "datetime64[ns]"
    )
    confirmed = np.where(conf == 2, date + 8 * day, np.datetime64("NaT")).astype("datetime64[ns]")
    mag = np.where(on, 0.4, np.nan).astype(np.float32)
    return xr.Dataset(
        {
            "alert_date": (("y", "x"), date),
            "confidence": (("y", "x"), conf.astype(np.uint8)),
            "magnitude": (("y", "x"), mag),
            "valid_count": (("y", "x"), np.full(conf.shape, 7, np.uint16)),
            "confirmed_date": (("y", "x"), confirmed),
        },
        coords=coords,
    )


def _patches() -> np.ndarray:
    conf = np.zeros((20, 20), np.uint8)
    conf[1, 1] = 2  # 1 px: removed
    conf[5:7, 1:3] = 2  # 4 px: removed (< 0.05 ha)
    conf[10:12, 1:3] = 2
    conf[12, 3] = 1  # 4 px + 1 diagonal px: 5 px with 8-connectivity, 4+1 with 4
    conf[14:17, 10:13] = 2  # 9 px, crosses a chunk border at x=11 / y=15
    conf[2:4, 12:15] = 1  # 6 px provisional
    return conf


def _clearing() -> xr.Dataset:
    """A confirmed 8 × 8 clearing (drop 0.5) inside a ring of partial drops (0.15, its blurred
    edge), with two weaker interior pixels (0.3); and a separate faint patch (drop 0.12)."""
    conf = np.zeros((20, 24), np.uint8)
    conf[3:13, 3:13] = 2
    conf[15:18, 16:22] = 1
    ds = _alerts(conf)
    mag = np.full(conf.shape, np.nan, np.float32)
    mag[3:13, 3:13] = 0.15
    mag[4:12, 4:12] = 0.5
    mag[6, 6] = mag[9, 10] = 0.3
    mag[15:18, 16:22] = 0.12
    return ds.assign(magnitude=(("y", "x"), mag))


def test_trim_edges_clears_partial_drops_at_a_patch_edge() -> None:
    ds = _clearing()
    out = trim_edges(ds)
    conf, mag = out["confidence"].values, out["magnitude"].values
    core = np.zeros(conf.shape, bool)
    core[4:12, 4:12] = True
    assert (conf[core] == 2).all()  # 0.3 ≥ half of the typical 0.5: kept
    ring = (ds["confidence"].values == 2) & ~core
    assert (conf[ring] == 0).all() and np.isnan(mag[ring]).all()
    assert np.isnat(out["alert_date"].values[ring]).all()
    assert np.isnat(out["confirmed_date"].values[ring]).all()
    # Each patch against its own typical drop: the faint one is uniform, so all of it stays.
    assert (conf[15:18, 16:22] == 1).all()
    assert (out["valid_count"].values == ds["valid_count"].values).all()
    assert out.attrs["edge_share"] == 0.5


def test_trim_edges_off_and_out_of_range() -> None:
    ds = _clearing()
    assert trim_edges(ds, share=0) is ds
    assert (trim_edges(ds, share=0.2)["confidence"].values == ds["confidence"].values).all()
    with pytest.raises(MonitorInputError, match="share=1"):
        trim_edges(ds, share=1)


def test_trim_edges_lazy_equals_eager() -> None:
    ds = _clearing()
    lazy = trim_edges(ds.chunk({"y": 7, "x": 5}))
    assert lazy["confidence"].chunks is not None
    xr.testing.assert_identical(lazy.compute(), trim_edges(ds))


def test_mmu_removes_small_patches_with_8_connectivity() -> None:
    ds = _alerts(_patches())
    assert pixel_area_ha(ds) == pytest.approx(0.01)
    out = apply_mmu(ds)
    conf = out["confidence"].values
    assert conf[1, 1] == 0 and (conf[5:7, 1:3] == 0).all()
    assert (conf[10:12, 1:3] == 2).all() and conf[12, 3] == 1
    assert (conf[14:17, 10:13] == 2).all() and (conf[2:4, 12:15] == 1).all()
    assert np.isnat(out["alert_date"].values[5, 1]) and np.isnan(out["magnitude"].values[5, 1])
    assert np.isnat(out["confirmed_date"].values[1, 1])
    assert out["confidence"].dtype == np.uint8
    xr.testing.assert_equal(out["valid_count"], ds["valid_count"])
    four = apply_mmu(ds, connectivity=4)["confidence"].values
    assert (four[10:13, 1:4] == 0).all()  # 4 + 1 are separate patches under 4-connectivity


@pytest.mark.parametrize("chunks", [{"y": 15, "x": 11}, {"y": 4, "x": 3}])
def test_mmu_is_exact_over_dask_chunks(chunks: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    conf = (rng.random((40, 40)) < 0.3).astype(np.uint8) * rng.integers(1, 3, (40, 40)).astype(
        np.uint8
    )
    ds = _alerts(conf)
    expected = apply_mmu(ds, min_area_ha=0.08)
    lazy = apply_mmu(ds.chunk(chunks), min_area_ha=0.08)
    assert lazy["confidence"].chunks is not None
    xr.testing.assert_identical(lazy.compute(), expected)


def test_polygons_carry_the_fields(tmp_path: Path) -> None:
    ds = apply_mmu(_alerts(_patches()))
    gdf = alert_polygons(ds, sensors=["landsat", "sentinel2"], run_id="run-7")
    assert list(gdf.columns[:-1]) == COLUMNS and gdf.geometry.name == "geometry"
    assert gdf.crs.to_epsg() == 32635
    assert len(gdf) == 4  # 10:12 block (2) and its diagonal pixel (1) differ in confidence
    assert sorted(gdf["area_ha"].round(4)) == [0.01, 0.04, 0.06, 0.09]
    big = gdf.loc[gdf["area_ha"].round(4) == 0.09].iloc[0]
    assert big["confidence"] == 2
    assert big["first_date"] == T0 + np.timedelta64(10, "D")
    assert big["confirmed_date"] == T0 + np.timedelta64(18, "D")
    assert big["magnitude"] == pytest.approx(0.4)
    assert big.geometry.area == pytest.approx(900.0)
    prov = gdf.loc[gdf["confidence"] == 1]
    assert prov["confirmed_date"].isna().all()
    assert set(gdf["sensors"]) == {"landsat,sentinel2"} and set(gdf["run_id"]) == {"run-7"}
    path = tmp_path / "alerts.gpkg"
    gdf.to_file(path, layer="alerts")
    back = gpd.read_file(path, layer="alerts")
    assert len(back) == 4 and back.crs.to_epsg() == 32635


def test_no_alerts_give_an_empty_frame_with_columns() -> None:
    gdf = alert_polygons(_alerts(np.zeros((5, 5), np.uint8)), sensors=["landsat"], run_id="r")
    assert len(gdf) == 0 and list(gdf.columns[:-1]) == COLUMNS and gdf.crs.to_epsg() == 32635


def test_ungeoreferenced_alerts_are_refused() -> None:
    ds = _alerts(_patches()).drop_vars("spatial_ref")
    ds = ds.assign_coords(y=np.arange(20.0), x=np.arange(20.0))
    with pytest.raises(MonitorInputError, match="georeferenced"):
        apply_mmu(ds)
