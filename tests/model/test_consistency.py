"""Consistency by construction: block means of the output equal valid Landsat exactly."""

from __future__ import annotations

import numpy as np
import torch
from _model_helpers import random_model
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fusion.model.consistency import block_mean, consistency_error, enforce_consistency, replicate

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@st.composite
def landsat_and_mask(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    h, w = draw(shapes)
    values = draw(arrays(np.float32, (6, h, w), elements=st.floats(-0.0625, 1.25, width=32)))
    mask = draw(arrays(np.bool_, (6, h, w)))
    return values, mask


@settings(max_examples=60, deadline=None)
@given(landsat_and_mask(), st.integers(0, 2**31 - 1))
def test_back_projection_matches_valid_landsat(
    lm: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    landsat, invalid = lm
    landsat = np.where(invalid, np.nan, landsat).astype(np.float32)
    h, w = landsat.shape[1:]
    pred = torch.from_numpy(
        np.random.default_rng(seed).uniform(-1, 2, (1, 6, 3 * h, 3 * w)).astype(np.float32)
    )
    out = enforce_consistency(pred, torch.from_numpy(landsat)[None])
    assert torch.isfinite(out).all()  # NaN Landsat never leaks into the prediction
    assert consistency_error(out[0].numpy(), landsat) <= 1e-5
    # Where Landsat is invalid the prediction is left as it was.
    keep = replicate(torch.from_numpy(invalid)[None]).bool()
    assert torch.equal(out[keep], pred[keep])


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1), st.floats(0, 1), st.booleans())
def test_network_output_is_consistent_and_nan_stays_put(
    shape: tuple[int, int], seed: int, nan_share: float, with_guide: bool
) -> None:
    h, w = shape
    rng = np.random.default_rng(seed)
    landsat = rng.uniform(0.0, 0.5, (1, 6, h, w)).astype(np.float32)
    landsat[:, :, rng.random((h, w)) < nan_share] = np.nan
    guide = None
    if with_guide:
        g = rng.uniform(0.0, 0.5, (1, 6, 3 * h, 3 * w)).astype(np.float32)
        g[:, :, rng.random((3 * h, 3 * w)) < nan_share] = np.nan
        guide = torch.from_numpy(g)
    model = random_model().eval()
    with torch.inference_mode():
        out = model(torch.from_numpy(landsat), guide, 10.0)
    refl = out.reflectance[0].numpy()
    assert consistency_error(refl, landsat[0]) <= 1e-5
    # NaN rule: output NaN exactly where Landsat and the guide are both invalid.
    l_bad = np.repeat(np.repeat(~np.isfinite(landsat[0]), 3, 1), 3, 2)
    g_bad = np.ones_like(l_bad) if guide is None else ~np.isfinite(guide[0].numpy())
    assert np.array_equal(np.isnan(refl), l_bad & g_bad)
    assert np.array_equal(np.isnan(out.sigma[0].numpy()), l_bad & g_bad)
    assert (out.sigma[0].numpy()[~(l_bad & g_bad)] > 0).all()
    assert np.array_equal(out.observed[0, 0].numpy(), ~l_bad.any(0))


def test_block_ops_are_inverse() -> None:
    x = torch.rand(2, 6, 4, 5)
    assert torch.allclose(block_mean(replicate(x)), x, rtol=0, atol=1e-6)
