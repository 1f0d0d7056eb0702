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
from fusion.model.network import FusionOutput
from fusion.model.sources import SourceConfig, SourceWeights
from fusion.model.synthetic import make_scene
from fusion.model.train import TrainConfig, gaussian_loss, load_config, train
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


def test_fine_tuning_can_grow_the_guide_detail_filter(tmp_path: Path) -> None:
    base = train(_tiny(tmp_path, 4, "base"))
    grown = load_model(
        train(_tiny(tmp_path, 0, "grown").model_copy(update={"init": base, "mix_kernel": 3}))
    )
    start = load_model(base)
    assert grown.cfg.mix_kernel == 3 and grown.mix.weight.shape[-2:] == (3, 3)
    # The 1×1 filter sits at the centre of the 3×3 one: the same network before any step.
    assert torch.equal(grown.mix.weight[:, :, 1, 1], start.mix.weight[:, :, 0, 0])
    assert grown.mix.weight[:, :, 0].abs().sum() == 0
    torch.manual_seed(0)
    landsat = 0.1 + 0.1 * torch.rand(1, 6, 8, 8)
    guide = 0.1 + 0.1 * torch.rand(1, 6, 24, 24)
    with torch.inference_mode():
        a, b = start(landsat, guide, 3.0), grown(landsat, guide, 3.0)
    assert torch.allclose(a.reflectance, b.reflectance, atol=1e-6)
    shrink = _tiny(tmp_path, 1, "shrink").model_copy(update={"init": tmp_path / "grown" / "w.pt"})
    with pytest.raises(ConfigError, match="architecture"):
        train(shrink)


def test_relative_weighting_counts_samples_by_their_relative_error() -> None:
    """Two samples, one with 10× the error of the other. Plain: the large one's gradient is
    10× the small one's. ``relative``: each sample's gradient is that of log MSE, scale-free
    (∝ error / MSE), so the small-error sample is no longer drowned out."""
    torch.manual_seed(0)
    target = torch.zeros(2, 6, 9, 9)
    noise = torch.randn(1, 6, 9, 9).expand(2, -1, -1, -1) * torch.tensor([0.05, 0.5]).view(
        2, 1, 1, 1
    )
    std = torch.ones(6)

    def grads(weighting: str) -> torch.Tensor:
        pred = noise.clone().requires_grad_(True)
        out = FusionOutput(
            pred, torch.full_like(pred, 0.05), torch.ones(2, 1, 9, 9, dtype=torch.bool)
        )
        gaussian_loss(out, target, std, beta=1.0, sample_weighting=weighting).backward()
        assert pred.grad is not None
        return pred.grad.flatten(1).norm(dim=1)

    plain, relative = grads("none"), grads("relative")
    assert plain[1] / plain[0] == pytest.approx(10, rel=1e-3)
    assert relative[1] / relative[0] == pytest.approx(0.1, rel=0.05)


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
    # The shipped weights: base.yaml's network, fine-tuned twice.
    stage2 = load_config(CONFIGS / "finetune.yaml")
    cfg = load_config(CONFIGS / "default.yaml")
    assert stage2.init == base.out and cfg.init == stage2.out
    assert cfg.out.name == "default.pt" and cfg.mix_kernel == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: many\n")
    with pytest.raises(ConfigError, match="steps"):
        load_config(bad)
