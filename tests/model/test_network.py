"""The network's size and receptive field (the halo of tiled inference relies on it)."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import random_model

from fusion.model.network import RECEPTIVE_FIELD_30M, FusionNet, NetConfig, receptive_field_30m


def test_default_size_is_a_few_hundred_k_parameters() -> None:
    n = sum(p.numel() for p in FusionNet().parameters())
    assert 100_000 <= n <= 500_000
    assert receptive_field_30m(NetConfig()) == RECEPTIVE_FIELD_30M
    with pytest.raises(ValueError, match="odd"):
        NetConfig(mix_kernel=2)


@pytest.mark.parametrize("mix_kernel", [1, 3])
def test_receptive_field_bounds_the_influence_of_a_pixel(mix_kernel: int) -> None:
    cfg = NetConfig(channels=8, blocks=2, mix_kernel=mix_kernel)
    model = random_model(cfg).eval()
    rf = receptive_field_30m(cfg)
    n = 2 * rf + 9
    torch.manual_seed(0)
    landsat = 0.1 + 0.1 * torch.rand(1, 6, n, n)
    guide = 0.1 + 0.1 * torch.rand(1, 6, 3 * n, 3 * n)
    c = n // 2
    bumped_l, bumped_g = landsat.clone(), guide.clone()
    bumped_l[..., c, c] += 0.3
    bumped_g[..., 3 * c + 1, 3 * c + 1] += 0.3
    with torch.inference_mode():
        base = model(landsat, guide, 5.0).reflectance
        for lt, gt in ((bumped_l, guide), (landsat, bumped_g)):
            changed = (model(lt, gt, 5.0).reflectance - base).abs().amax(dim=(0, 1)) > 0
            rows, cols = torch.nonzero(changed, as_tuple=True)
            # Furthest affected output pixel, measured in Landsat pixels from the bumped one.
            reach = max((rows // 3 - c).abs().max().item(), (cols // 3 - c).abs().max().item())
            assert 0 < reach <= rf
    assert reach >= rf - 2  # the stated radius is not a loose over-estimate
