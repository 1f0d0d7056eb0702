"""The real training/validation sources read from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.model.realdata import landsat_crops, virginia_s2

pytestmark = pytest.mark.shared_data


def test_virginia_splits_are_disjoint_and_physical(shared_data: Path) -> None:
    train, test = virginia_s2(shared_data, split="train"), virginia_s2(shared_data, split="test")
    assert train.truth.shape == (1, 6, 320, 480) and test.truth.shape == (1, 6, 159, 480)
    assert test.truth.shape[2] % 3 == 0 and train.pixel_m == 20.0
    for s in (train, test):
        assert np.isfinite(s.truth).all() and s.truth.min() > -0.05 and s.truth.max() < 1.2


def test_landsat_crops(shared_data: Path) -> None:
    train = landsat_crops(shared_data, split="train")
    (pair,) = landsat_crops(shared_data, split="test")
    assert len(train) == 2 and all(s.truth.shape[:2] == (1, 6) for s in train)
    assert pair.truth.shape == (2, 6, 300, 370) and np.diff(pair.days).item() == 16
    v = pair.truth[np.isfinite(pair.truth)]
    assert v.min() > -0.05 and v.max() < 1.2


def test_landsat_pair_is_coregistered(shared_data: Path) -> None:
    from skimage.registration import phase_cross_correlation

    (pair,) = landsat_crops(shared_data, split="test")
    a, b = (np.nan_to_num(pair.truth[t, 3]) for t in (0, 1))
    shift = phase_cross_correlation(a, b, upsample_factor=10)[0]
    assert np.abs(shift).max() <= 0.3  # pixels
