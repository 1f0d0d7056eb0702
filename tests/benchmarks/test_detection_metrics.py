"""The pure metric functions of benchmarks/detection.py on small hand-made arrays."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "detection.py"
_SPEC = importlib.util.spec_from_file_location("benchmark_detection", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
det = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = det  # dataclasses resolve annotations through sys.modules
_SPEC.loader.exec_module(det)


def test_area_accuracy_counts_only_evaluated_pixels() -> None:
    reference = np.array([[1, 1, 0, 0]], bool)
    detected = np.array([[1, 0, 1, 1]], bool)
    evaluated = np.array([[1, 1, 1, 0]], bool)  # last pixel (a late clearing) left out
    out = det.area_accuracy(detected, reference, evaluated)
    assert (out["tp_px"], out["fp_px"], out["fn_px"]) == (1, 1, 1)
    assert out["producers_accuracy"] == 0.5
    assert out["users_accuracy"] == 0.5
    assert out["f1"] == 0.5
    assert out["commission_error"] == 0.5


def test_accuracy_without_detections_is_undefined_not_zero_commission() -> None:
    out = det.accuracy_from_counts(0, 0, 10)
    assert out["producers_accuracy"] == 0.0
    assert out["users_accuracy"] is None
    assert out["commission_error"] is None
    assert out["f1"] == 0.0


def test_clearing_shares_and_size_classes() -> None:
    ids = np.array([[1, 1, 2, 2], [1, 1, 2, 0]])
    detected = np.array([[1, 1, 1, 0], [0, 0, 0, 1]], bool)
    shares = det.clearing_shares(ids, detected, [1, 2])
    assert shares == {1: 0.5, 2: pytest.approx(1 / 3)}
    table = det.detection_by_size({1: 0.05, 2: 3.0}, shares)
    assert table["<0.1 ha"] == {"clearings": 1, "detected": 1, "rate": 1.0}
    assert table[">2 ha"] == {"clearings": 1, "detected": 0, "rate": 0.0}
    assert table["0.1-0.5 ha"]["rate"] is None


def test_clearing_lags_median_and_min() -> None:
    ids = np.array([[1, 1, 1, 2]])
    detected = np.array([[1, 1, 1, 0]], bool)
    day = np.array([[110.0, 120.0, np.nan, 130.0]])
    assert det.clearing_lags(ids, detected, day, {1: 100, 2: 100}) == {1: 15.0}
    assert det.clearing_lags(ids, detected, day, {1: 100}, how="min") == {1: 10.0}


def test_seen_clearly_needs_clear_drop_and_window() -> None:
    clear = np.array([True, True, False, True, True])
    drop = np.array([0.3, 0.1, 0.3, 0.3, 0.3])
    clear_day = np.array([100, 100, 100, 300, -30])
    out = det.seen_clearly(clear, drop, 150, clear_day, window_days=120, min_drop=0.15)
    assert out.tolist() == [True, False, False, False, False]


def test_block_reduces_and_repeats() -> None:
    a = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    assert det.block(a, 2, "all").tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    m = det.block(np.arange(4.0).reshape(2, 2), 2, "mean")
    assert np.allclose(m, 1.5)


def test_mark_reached_keeps_the_day_of_the_second_look() -> None:
    reached = np.full(3, np.nan)
    counts = [np.array([1, 0, 2]), np.array([2, 1, 3]), np.array([3, 1, 4])]
    for day, count in zip((10, 15, 20), counts, strict=True):
        det.mark_reached(reached, count, day)
    np.testing.assert_array_equal(reached, [15.0, np.nan, 10.0])
