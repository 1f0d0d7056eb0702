"""Fixtures of the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _model_helpers import random_model

from fusion.model.weights import save_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of saved tiny random weights (with metadata)."""
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    return save_weights(random_model(), path, training={"note": "test"}, metrics={}, seed=0)
