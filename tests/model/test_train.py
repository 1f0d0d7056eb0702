"""Training: a few steps on tiny synthetic data lower the loss; runs are seeded and resumable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion.errors import ConfigError
from fusion.model.consistency import block_mean_np
from fusion.model.data import SCENARIOS, make_sample
from fusion.model.sources import SourceConfig, SourceWeights
from fusion.model.synthetic import make_scene
from fusion.model.train import TrainConfig, load_config, train
from fusion.model.weights import load_model, read_metadata

CONFIGS = Path(__file__).resolve().parents[2] / "fusion" / "model" / "configs"


def _tiny(tmp_path: Path, steps: int, name: str = "run") -> TrainConfig:
    return TrainConfig(
        out=tmp_path / name / "w.pt",
        run_dir=tmp_path / name,
        steps=steps,
        batch=4,
        patch=24,
        lr=3e-3,
        warmup=2,
        checkpoint_every=10,
        threads=1,
        channels=8,
        blocks=1,
        calibration_batches=1,
        sources=SourceConfig(
            weights=SourceWeights(synthetic=1.0, demo=0.0, virginia=0.0, landsat=0.0),
            synthetic_scenes=2,
            synthetic_size=48,
            synthetic_dates=2,
        ),
    )


def test_loss_decreases_and_weights_load(tmp_path: Path) -> None:
    pt = train(_tiny(tmp_path, 40))
    history = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["history"]
    assert np.mean(history[-10:]) < np.mean(history[:10])
    meta = read_metadata(pt)
    assert meta.training["sources"] == {"synthetic": ["synthetic-0", "synthetic-1"]}
    assert set(meta.metrics["calibration_set"]) == set(SCENARIOS)
    assert load_model(pt).temp_observed.gt(0).all()


def test_seeded_and_resumable(tmp_path: Path) -> None:
    a = load_model(train(_tiny(tmp_path, 12, "a"))).state_dict()
    b = load_model(train(_tiny(tmp_path, 12, "b"))).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(_tiny(tmp_path, 16, "a"))  # continues from a's checkpoint at step 12
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 16 and len(state["history"]) == 16


def test_fine_tuning_starts_from_the_init_weights(tmp_path: Path) -> None:
    base = train(_tiny(tmp_path, 12, "base"))
    # No step: the network is the init's (normalisation included); only sigma is recalibrated.
    same = load_model(train(_tiny(tmp_path, 0, "same").model_copy(update={"init": base})))
    start = load_model(base).state_dict()
    for key, value in same.state_dict().items():
        if not key.startswith("temp_"):
            assert torch.equal(value, start[key]), key
    tuned = load_model(train(_tiny(tmp_path, 6, "tuned").model_copy(update={"init": base})))
    assert not torch.equal(tuned.head_in.weight, start["head_in.weight"])
    lineage = read_metadata(tmp_path / "tuned" / "w.pt").training
    assert lineage["config"]["init"] == str(base)
    assert lineage["init_sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    wider = _tiny(tmp_path, 1, "wider").model_copy(update={"init": base, "channels": 16})
    with pytest.raises(ConfigError, match="architecture"):
        train(wider)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_samples_follow_the_wald_protocol(scenario: str) -> None:
    scene = make_scene(0, size=40, n_dates=2)
    rng = np.random.default_rng(1)
    landsat, guide, dt, target = make_sample(scene, rng, patch=18, scenario=scenario)  # type: ignore[arg-type]
    assert landsat.shape == (6, 6, 6) and guide.shape == target.shape == (6, 18, 18) and dt >= 0
    ok = np.isfinite(landsat)
    assert np.allclose(landsat[ok], block_mean_np(target)[ok], atol=0.02)  # block mean + noise
    if scenario == "none":
        assert np.isnan(guide).all()


def test_example_config_is_valid_and_errors_are_clear(tmp_path: Path) -> None:
    base = load_config(CONFIGS / "base.yaml")
    assert base.patch % 3 == 0 and base.init is None
    # The shipped weights: base.yaml's network, fine-tuned.
    cfg = load_config(CONFIGS / "default.yaml")
    assert cfg.out.name == "default.pt" and cfg.init == base.out
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: many\n")
    with pytest.raises(ConfigError, match="steps"):
        load_config(bad)
