"""dense_index: which sigma each observation of the dense series is scored with."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import fusion.model.series
from fusion.bands import CANONICAL_BANDS
from fusion.change.index import nbr_sigma
from fusion.pipeline.series import FUSED_SIGMA_CAP, dense_index

GBOX = GeoBox.from_bbox((300_000, 9_900_000, 300_090, 9_900_090), crs="EPSG:32734", resolution=10)


def _refl(gbox: GeoBox, days: list[str], value: np.ndarray) -> xr.DataArray:
    h, w = gbox.shape
    data = np.broadcast_to(value[None, :, None, None], (len(days), 6, h, w)).astype(np.float32)
    coords = dict(xr_coords(gbox, crs_coord_name="spatial_ref"))
    coords["time"] = np.array(days, dtype="datetime64[ns]")
    coords["band"] = list(CANONICAL_BANDS)
    return xr.DataArray(data.copy(), dims=("time", "band", "y", "x"), coords=coords)


def test_fused_sigma_is_the_networks_capped_by_the_landsat_noise_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forest = np.array([0.02, 0.04, 0.03, 0.30, 0.14, 0.06], np.float32)
    landsat = _refl(GBOX.zoom_out(3), ["2024-02-10"], forest)
    fused_refl = _refl(GBOX, ["2024-02-10"], forest)
    # Network sigma: tiny in the left column, huge elsewhere (a stale guide after a clearing).
    net = xr.full_like(fused_refl, 0.05)
    net[..., 0] = 1e-4

    def fake_fuse_series(*_: object, **__: object) -> xr.Dataset:
        observed = xr.ones_like(fused_refl.isel(band=0, drop=True), dtype=bool)
        observed[..., -1] = False  # no Landsat value: no observation, no sigma
        return xr.Dataset({"reflectance": fused_refl, "sigma": net, "observed": observed})

    monkeypatch.setattr(fusion.model.series, "fuse_series", fake_fuse_series)
    _, sigma, _ = dense_index(
        {"landsat": xr.Dataset({"reflectance": landsat})}, geobox=GBOX, series="fused"
    )
    got = sigma.isel(time=0).values
    noise = float(nbr_sigma(fused_refl.isel(time=0, y=0, x=0), "landsat"))
    own = float(nbr_sigma(fused_refl.isel(time=0, y=0, x=0), net.isel(time=0, y=0, x=1)))
    assert own > FUSED_SIGMA_CAP * noise  # the network's sigma is capped here …
    np.testing.assert_allclose(got[:, 1:-1], FUSED_SIGMA_CAP * noise, rtol=1e-5)
    tiny = float(nbr_sigma(fused_refl.isel(time=0, y=0, x=0), net.isel(time=0, y=0, x=0)))
    np.testing.assert_allclose(got[:, 0], tiny, rtol=1e-5)
    assert tiny < noise  # … and kept where it is below the cap
    assert np.isnan(got[:, -1]).all()
