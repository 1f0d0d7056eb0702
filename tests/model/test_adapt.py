"""Per-scene adaptation: guide registration and the refitted readout (fusion.model.adapt)."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import torch
from _model_helpers import geobox30, random_model, scene, wrap
from scipy import ndimage

from fusion.model import adapt
from fusion.model.adapt import (
    MAX_SHIFT,
    MIN_PIXELS,
    estimate_shift,
    fit_readout,
    guide_block,
    shift_image,
)
from fusion.model.consistency import block_mean_np
from fusion.model.fuse import fuse, fuse_adapted


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random reflectance (6, h, w): correlated in space, as real scenes are."""
    rng = np.random.default_rng(seed)
    base = np.array([0.03, 0.06, 0.05, 0.3, 0.18, 0.1], np.float32)[:, None, None]
    field = ndimage.gaussian_filter(rng.standard_normal((h, w)), 2.0)
    field /= field.std()
    return (base * (1 + 0.3 * field[None])).astype(np.float32)


def test_shift_image_moves_content_and_its_mask() -> None:
    x = _texture(40, 44)
    np.testing.assert_array_equal(shift_image(x, 0, 2.0)[:, :, 2:], x[:, :, :-2])
    np.testing.assert_array_equal(shift_image(x, 0.0, 0.0), x)
    x[:, 10:20, 12:22] = np.nan  # a flagged cloud
    x[:, 30, 30] = np.nan  # one bad pixel
    y = shift_image(x, 0.4, -1.3)
    bad = np.isnan(y[0])
    # The cloud moves with the content (rows +0.4, cols -1.3) and keeps its size.
    assert bad[11:19, 11:20].all() and bad.sum() <= 10 * 10 + 1 + 2 * 10
    assert not bad[:9].any() and not bad[21:29].any() and not bad[:25, 23:].any()
    # Away from invalid pixels the shift is the plain cubic convolution of the data.
    clean = _texture(40, 44)
    np.testing.assert_allclose(shift_image(clean, 0.4, -1.3)[:, 25:35, 2:8], y[:, 25:35, 2:8])


@pytest.mark.parametrize("shift", [(0.6, -0.9), (-1.2, 0.3)])
def test_estimate_shift_recovers_a_sub_pixel_misregistration(shift: tuple[float, float]) -> None:
    truth = _texture(3 * 60, 3 * 60)
    guide = ndimage.shift(truth, (0, *shift), order=3, mode="nearest")
    landsat = block_mean_np(truth)
    drow, dcol = estimate_shift(landsat, guide_block(guide))
    assert drow == pytest.approx(shift[0] / 3, abs=0.03)
    assert dcol == pytest.approx(shift[1] / 3, abs=0.03)
    moved = shift_image(guide, -3 * drow, -3 * dcol)
    inner = np.s_[:, 6:-6, 6:-6]
    assert np.abs(moved - truth)[inner].mean() < 0.25 * np.abs(guide - truth)[inner].mean()


def test_estimate_shift_leaves_gross_or_unsupported_shifts_alone() -> None:
    truth = _texture(3 * 60, 3 * 60)
    far = ndimage.shift(truth, (0, 3 * (MAX_SHIFT + 0.5), 0), order=3, mode="nearest")
    assert estimate_shift(block_mean_np(truth), guide_block(far)) == (0.0, 0.0)
    small = _texture(3 * 18, 3 * 18)  # 324 Landsat pixels < MIN_PIXELS
    assert MIN_PIXELS > 18 * 18
    assert estimate_shift(block_mean_np(small), guide_block(small)) == (0.0, 0.0)


def test_fitted_readout_beats_the_learnt_one_at_the_coarse_scale() -> None:
    """The fit minimises the coarse-scale error; its sigma scale is that error's ratio."""
    model = random_model()
    landsat, guide = scene(120, 117, seed=3)
    ls, g = landsat.values, guide.values
    readout = fit_readout(model, ls, guide_block(g), 5.0)
    assert readout is not None
    target = ls[:, :120, :117]
    coarse = torch.from_numpy(block_mean_np(target))[None]
    gc = torch.from_numpy(guide_block(g))[None]

    def mse(r: object) -> np.ndarray:
        with torch.inference_mode():
            out = model(coarse, gc, 5.0, r).reflectance[0].numpy()
        return ((out - target) ** 2).mean(axis=(1, 2))

    learnt, fitted = mse(None), mse(readout)
    assert (fitted < learnt).all()
    np.testing.assert_allclose(readout.sigma_scale.numpy(), np.sqrt(fitted / learnt), rtol=2e-3)


def test_fit_windows_are_all_visited_once_and_any_prefix_is_spread() -> None:
    ys, xs = range(0, 500, 96), range(0, 800, 96)
    order = adapt._spread(ys, xs)
    assert sorted(order) == sorted((y, x) for y in ys for x in xs)
    first = order[:4]  # one window in each quadrant of the scene
    assert {(y >= 250, x >= 400) for y, x in first} == {(a, b) for a in (0, 1) for b in (0, 1)}


def test_large_scenes_fit_on_a_spread_subset_of_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past FIT_ROWS guided pixels the fit stops taking windows; it still fits the scene."""
    model = random_model()
    landsat, guide = scene(120, 117, seed=3)
    ls, gb = landsat.values, guide_block(guide.values)
    monkeypatch.setattr(adapt, "WINDOW", 10)  # 16 windows over the 40 × 39 coarse grid
    full = fit_readout(model, ls, gb, 5.0)
    monkeypatch.setattr(adapt, "FIT_ROWS", 9 * MIN_PIXELS)  # the least a fit needs: 10 windows
    part = fit_readout(model, ls, gb, 5.0)
    assert full is not None and part is not None
    assert not torch.allclose(part.mix, full.mix)
    # Both beat the learnt readout by a similar margin (the scene is homogeneous).
    assert (part.sigma_scale < 1).all()
    np.testing.assert_allclose(part.sigma_scale, full.sigma_scale, atol=0.1)


def test_small_or_guideless_scenes_keep_the_learnt_readout() -> None:
    model = random_model()
    landsat, guide = scene(30, 30, seed=4)
    assert fit_readout(model, landsat.values, guide_block(guide.values), 5.0) is None
    landsat, guide = scene(120, 120, seed=4)
    empty = np.full_like(guide_block(guide.values), np.nan)
    assert fit_readout(model, landsat.values, empty, 5.0) is None


def _no_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("fuse computed a dask graph; it must stay lazy")


def test_adapted_fuse_is_lazy_and_chunking_free(tiny_weights: Path) -> None:
    h, w = 105, 99
    truth = _texture(3 * h, 3 * w, seed=5)
    g30 = geobox30(h, w)
    landsat = wrap(block_mean_np(truth), g30)
    shifted = ndimage.shift(truth, (0, 0.7, -0.5), order=3, mode="nearest")
    shifted[:, 40:70, 100:160] = np.nan  # a flagged cloud in the guide
    guide = wrap(shifted, g30.zoom_to((3 * h, 3 * w)))
    ref = fuse(landsat, guide, guide_dt_days=4, weights=tiny_weights)
    plain = fuse(landsat, guide, guide_dt_days=4, weights=tiny_weights, adapt=False)
    assert not np.allclose(ref.reflectance.values, plain.reflectance.values)
    for ch in ((35, 33), (50, 99)):
        with dask.config.set(scheduler=_no_compute):
            lazy = fuse(
                landsat.chunk({"y": ch[0], "x": ch[1]}),
                guide.chunk({"y": 90, "x": 120}),
                guide_dt_days=4,
                weights=tiny_weights,
            )
        got = lazy.compute()
        np.testing.assert_allclose(got.reflectance.values, ref.reflectance.values, atol=1e-5)
        np.testing.assert_allclose(got.sigma.values, ref.sigma.values, atol=1e-5)
        assert np.array_equal(np.isnan(got.reflectance.values), np.isnan(ref.reflectance.values))


def test_adapted_fuse_reads_its_inputs_once(tiny_weights: Path) -> None:
    """The whole-scene estimates share the inputs' tasks: nothing upstream runs twice (scene
    reads and the guide composite are the pipeline's most expensive tasks)."""
    h, w = 60, 66
    truth = _texture(3 * h, 3 * w, seed=6)
    g30 = geobox30(h, w)
    calls: list[tuple[str, tuple[int, ...]]] = []

    def upstream(arr: np.ndarray, chunks: tuple[int, int], name: str) -> da.Array:
        def read(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
            calls.append((name, block_id))
            return block

        return da.from_array(arr, chunks=(6, *chunks)).map_blocks(read, meta=arr[:0, :0, :0])

    ls = block_mean_np(truth)
    landsat = wrap(ls, g30).copy(data=upstream(ls, (30, 33), "landsat"))
    guide = wrap(truth, g30.zoom_to((3 * h, 3 * w))).copy(data=upstream(truth, (90, 99), "guide"))
    fuse(landsat, guide, guide_dt_days=4, weights=tiny_weights).compute(scheduler="sync")
    assert len(set(calls)) == 8  # 2 × 2 chunks of each
    assert len(calls) == 8


def test_adaptation_estimates_are_reported_alike_eager_and_lazy(tiny_weights: Path) -> None:
    h, w = 120, 117
    truth = _texture(3 * h, 3 * w, seed=7)
    g30 = geobox30(h, w)
    landsat = wrap(block_mean_np(truth), g30)
    guide = wrap(
        ndimage.shift(truth, (0, 0.9, -0.6), order=3, mode="nearest"), g30.zoom_to((3 * h, 3 * w))
    )
    ds, eager = fuse_adapted(landsat, guide, guide_dt_days=4, weights=tiny_weights)
    assert eager is not None and list(eager["estimate"].values) == list(adapt.ESTIMATES)
    shift = eager.values[:2]  # the content moved by (0.9, -0.6) guide pixels
    np.testing.assert_allclose(shift, [0.3, -0.2], atol=0.03)
    assert ds.attrs["fusion_guide_shift_px"] == pytest.approx(list(shift), abs=1e-4)
    scale = eager.values[2:]
    assert ds.attrs["fusion_readout"] == "refitted" and np.all((scale > 0) & (scale <= 1))
    _, lazy = fuse_adapted(
        landsat.chunk({"y": 40, "x": 39}),
        guide.chunk({"y": 120, "x": 117}),
        guide_dt_days=4,
        weights=tiny_weights,
    )
    assert lazy is not None and lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values, rtol=1e-5)
    assert fuse_adapted(landsat, None, weights=tiny_weights)[1] is None
