"""Weights and their metadata: shipped defaults, round trip, and clear errors on mismatch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _model_helpers import scene

from fusion.bands import CANONICAL_BANDS
from fusion.errors import WeightsError
from fusion.model.fuse import fuse
from fusion.model.network import RECEPTIVE_FIELD_30M
from fusion.model.weights import WEIGHTS_DIR, load_model, read_metadata


def _copy(tiny_weights: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "w.pt"
    shutil.copy(tiny_weights, dst)
    shutil.copy(tiny_weights.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _edit_meta(pt: Path, **changes: object) -> None:
    meta = json.loads(pt.with_suffix(".json").read_text())
    meta.update(changes)
    pt.with_suffix(".json").write_text(json.dumps(meta))


def test_shipped_weights_carry_their_metadata() -> None:
    pt = WEIGHTS_DIR / "default.pt"
    meta = read_metadata("default")
    assert meta.bands == list(CANONICAL_BANDS)
    assert meta.scale == 3 and meta.receptive_field_30m == RECEPTIVE_FIELD_30M
    assert len(meta.normalisation["mean"]) == 6 and len(meta.normalisation["std"]) == 6
    assert meta.training["sources"] and meta.metrics and meta.seed is not None
    assert "code_revision" in meta.model_dump()
    assert pt.stat().st_size < 4 * 2**20  # a few MB at most
    model = load_model("default")
    n_params = sum(p.numel() for p in model.parameters())
    assert 1e5 <= n_params <= 1e6
    temps = torch.cat([model.temp_observed, model.temp_gapfill])
    assert torch.all(temps > 0) and torch.allclose(
        temps[:6], torch.tensor(meta.calibration["temp_observed"])
    )


def test_round_trip(tiny_weights: Path) -> None:
    model = load_model(tiny_weights)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert read_metadata(tiny_weights).architecture == {"channels": 8, "blocks": 1, "mix_kernel": 1}


def test_band_mismatch_is_a_clear_error(tiny_weights: Path, tmp_path: Path) -> None:
    pt = _copy(tiny_weights, tmp_path)
    _edit_meta(pt, bands=["red", "green", "blue", "nir08", "swir16", "swir22"])
    landsat, guide = scene(6, 6)
    with pytest.raises(WeightsError, match="bands"):
        fuse(landsat, guide, weights=pt)


def test_corrupt_or_mismatched_weights(tiny_weights: Path, tmp_path: Path) -> None:
    landsat, _ = scene(6, 6)
    pt = _copy(tiny_weights, tmp_path)
    _edit_meta(pt, architecture={"channels": 16, "blocks": 1})
    with pytest.raises(WeightsError, match="architecture"):
        fuse(landsat, weights=pt)
    pt = _copy(tiny_weights, tmp_path)
    _edit_meta(pt, sha256="0" * 64)
    with pytest.raises(WeightsError, match="sha256"):
        fuse(landsat, weights=pt)
    pt = _copy(tiny_weights, tmp_path)
    _edit_meta(pt, scale=2)
    with pytest.raises(WeightsError, match="scale"):
        fuse(landsat, weights=pt)
    pt = _copy(tiny_weights, tmp_path)
    _edit_meta(pt, normalisation={"mean": [0.1] * 6, "std": [0.1] * 6})
    with pytest.raises(WeightsError, match="normalisation"):
        fuse(landsat, weights=pt)
    pt.with_suffix(".json").write_text("{}")
    with pytest.raises(WeightsError, match="field"):
        fuse(landsat, weights=pt)
    with pytest.raises(WeightsError, match="not found"):
        fuse(landsat, weights=tmp_path / "nowhere.pt")


def test_default_weights_fuse_runs_unguided_and_guided() -> None:
    landsat, guide = scene(12, 12)
    a = fuse(landsat)
    b = fuse(landsat, guide, guide_dt_days=5)
    assert np.isfinite(a.reflectance.values).all() and np.isfinite(b.sigma.values).all()
    assert a.attrs["fusion_weights"] == "default.pt"
