"""The fusion network: Landsat 30 m (+ Sentinel-2 10 m guide) → Landsat-like 10 m + sigma.

A residual CNN that works at the Landsat pixel size and upsamples ×3 with a sub-pixel
convolution (PixelShuffle; Shi et al., CVPR 2016), so nearly all arithmetic happens on 1/9 of
the output pixels. The guide enters at 30 m too: its 3×3 block mean (beside Landsat's, so the
net sees where the guide is stale), and its sub-pixel detail folded into channels
(PixelUnshuffle). The 10 m prediction is

    x̂ = up(L) + r + a ⊙ M·detail(G)

with ``r`` a free residual, ``a`` a per-band, spatially varying gain on the guide's own detail
``detail(G) = G − up(D(G))`` (the classic high-pass injection, learnt and gated), ``up``
bicubic with one back-projection step (:func:`upsample`), ``M`` a learnt cross-band mixing
(identity at start) that denoises the detail, and a final back-projection
(:mod:`fusion.model.consistency`) makes the block mean of the output equal Landsat exactly.
``sigma`` is a softplus head scaled by per-band temperatures fitted on held-out data.

Inputs are normalised and NaN-filled inside the model, so callers pass reflectance as loaded.
Output NaN rule (per band, per 10 m pixel): the output is NaN only where the Landsat pixel
above it is NaN *and* the guide pixel is NaN (or there is no guide); anywhere else the model
predicts. Where Landsat is NaN but the guide is valid, the value is a gap fill from the guide
and its neighbours; :attr:`FusionOutput.observed` tells the two apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Final, NamedTuple

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn

from fusion.model.consistency import SCALE, block_mean, enforce_consistency, replicate

N_BANDS: Final = 6
UNKNOWN_DT_DAYS: Final = 60.0
"""Time gap assumed when the caller gives a guide without one: a typical 'stale' gap, so the
network leans on Landsat rather than trusting a guide of unknown date."""
DT_SCALE_DAYS: Final = 365.0
_EPS: Final = 1e-6
_SIGMA_FLOOR: Final = 1e-3  # normalised units: keeps the NLL finite on flat targets


@dataclass(frozen=True)
class NetConfig:
    """Architecture hyper-parameters; stored in the weights metadata."""

    channels: int = 48
    """Feature channels at 30 m."""
    blocks: int = 4
    """Residual blocks (two 3×3 convolutions each)."""
    mix_kernel: int = 1
    """Side of the guide-detail filter ``M`` at 10 m (odd): 1 is a cross-band mix only, 3 a
    3×3×6 linear filter that can also smooth the guide's white noise in space and undo some of
    the blur of resampling it onto the Landsat grid."""

    def __post_init__(self) -> None:
        if self.mix_kernel < 1 or self.mix_kernel % 2 == 0:
            raise ValueError(f"mix_kernel must be odd and >= 1, got {self.mix_kernel}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def receptive_field_30m(cfg: NetConfig) -> int:
    """Receptive-field radius in Landsat pixels: how far an input pixel can affect an output.

    The guide's low-pass (:func:`upsample`, 4 px) feeding the detail features, one 3×3 input
    conv and two 3×3 convs per block (1 px each), the 1×1 head (0), and the bilinear upsampling
    of the gains (1 px). The detail path (low-pass 4 px, then ``M``'s ``mix_kernel // 2``
    fine pixels) is shorter, so it does not add. Checked empirically in the tests.
    """
    detail_path = 4 + -(-(cfg.mix_kernel // 2) // SCALE)
    return max(4 + 1 + 2 * cfg.blocks + 1, detail_path)


RECEPTIVE_FIELD_30M: Final = receptive_field_30m(NetConfig())
"""Receptive-field radius of the default network, in 30 m pixels (×3 at 10 m)."""


def upsample(x: torch.Tensor) -> torch.Tensor:
    """×3 bicubic plus one step of iterative back-projection (Irani & Peleg 1991).

    ``b + bicubic(x − D(b))`` with ``b = bicubic(x)``: nearly consistent with ``x`` and sharper
    than bicubic (on held-out real data, with the final replication step, ~5 % lower RMSE than
    bicubic vs ~4 % for bicubic + replication alone). Radius 4 input pixels.
    """
    b = F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False)
    return b + F.interpolate(
        x - block_mean(b), scale_factor=SCALE, mode="bicubic", align_corners=False
    )


class FusionOutput(NamedTuple):
    reflectance: torch.Tensor
    """(N, 6, 3h, 3w) reflectance; NaN where Landsat and guide are both invalid."""
    sigma: torch.Tensor
    """(N, 6, 3h, 3w) one-sigma uncertainty, reflectance units; NaN like reflectance."""
    observed: torch.Tensor
    """(N, 1, 3h, 3w) bool: the Landsat pixel above is valid in every band."""


class Parts(NamedTuple):
    """The network's output before its last linear step (normalised units, 10 m grid).

    The prediction is ``base + resid + gain ⊙ M·detail`` — linear in the residual's weight and
    in ``M``, which is what lets :mod:`fusion.model.adapt` refit them per scene in closed form.
    """

    base: torch.Tensor
    """(N, 6, 3h, 3w) ``up(L)``."""
    resid: torch.Tensor
    """(N, 6, 3h, 3w) free residual ``r``."""
    gain: torch.Tensor
    """(N, 6, 3h, 3w) per-band gain ``a`` on the guide's detail."""
    detail: torch.Tensor
    """(N, 6, 3h, 3w) the guide's detail ``G − up(D(G))``, 0 where the guide is invalid."""
    s_logit: torch.Tensor
    """(N, 6, 3h, 3w) sigma logits."""
    observed_b: torch.Tensor
    """(N, 6, 3h, 3w) bool: the Landsat pixel above is valid in that band."""
    guide_valid_b: torch.Tensor
    """(N, 6, 3h, 3w) bool: the guide is valid in that band."""


class Readout(NamedTuple):
    """A replacement for the learnt last linear step, fitted to one scene."""

    resid: torch.Tensor
    """(6,) weight of the residual ``r`` per band (learnt: 1)."""
    mix: torch.Tensor
    """(6, 6, k, k) detail filter ``M`` (learnt: ``FusionNet.mix.weight``)."""
    sigma_scale: torch.Tensor
    """(6,) factor on sigma where Landsat is observed (learnt: 1)."""


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FusionNet(nn.Module):
    """See the module docstring. ``forward`` takes raw reflectance with NaN."""

    n_features: Final = N_BANDS * 3 + 2 + 1 + N_BANDS * SCALE * SCALE + SCALE * SCALE
    # Buffers (registered in __init__), declared for type checkers.
    band_mean: torch.Tensor
    band_std: torch.Tensor
    temp_observed: torch.Tensor
    temp_gapfill: torch.Tensor

    def __init__(self, cfg: NetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or NetConfig()
        c = self.cfg.channels
        self.head_in = nn.Conv2d(self.n_features, c, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(c) for _ in range(self.cfg.blocks)])
        # Per 30 m pixel: 9 sub-pixels × (6 residuals + 6 sigma logits), plus 6 guide gains.
        self.head_out = nn.Conv2d(c, SCALE * SCALE * 2 * N_BANDS + N_BANDS, 1)
        # Cross-band mixing of the guide's detail (identity at start): true sub-pixel detail is
        # strongly correlated across bands, noise is not, so a learnt spectral projection
        # denoises the injected detail (a per-pixel linear Wiener filter across bands).
        k = self.cfg.mix_kernel
        self.mix = nn.Conv2d(N_BANDS, N_BANDS, k, padding=k // 2, bias=False)
        self.shuffle = nn.PixelShuffle(SCALE)
        self.unshuffle = nn.PixelUnshuffle(SCALE)
        # Normalisation and calibration travel in the state dict (and in the JSON metadata).
        self.register_buffer("band_mean", torch.full((N_BANDS,), 0.1))
        self.register_buffer("band_std", torch.full((N_BANDS,), 0.1))
        self.register_buffer("temp_observed", torch.ones(N_BANDS))
        self.register_buffer("temp_gapfill", torch.ones(N_BANDS))
        with torch.no_grad():
            # Start as the classic guided baseline: up(L) + 1 × the guide's detail, r ≈ 0. The
            # network then learns where to distrust the guide instead of learning to use it.
            self.head_out.weight.mul_(0.01)
            assert self.head_out.bias is not None
            self.head_out.bias.zero_()
            self.head_out.bias[-N_BANDS:] = 1.0
            self.mix.weight.zero_()
            self.mix.weight[:, :, k // 2, k // 2] = torch.eye(N_BANDS)

    @property
    def halo_30m(self) -> int:
        """Halo in Landsat pixels for tiled inference: the receptive-field radius."""
        return receptive_field_30m(self.cfg)

    def _bands(self, name: str) -> torch.Tensor:
        buf: torch.Tensor = getattr(self, name)
        return buf.view(1, N_BANDS, 1, 1)

    def forward(
        self,
        landsat: torch.Tensor,
        guide: torch.Tensor | None = None,
        dt_days: torch.Tensor | float | None = None,
        readout: Readout | None = None,
    ) -> FusionOutput:
        """``landsat`` (N,6,h,w); ``guide`` (N,6,3h,3w) or None; ``dt_days`` scalar or (N,1,3h,3w).

        NaN marks invalid pixels everywhere; a NaN ``dt_days`` means unknown. ``readout``
        replaces the learnt last linear step for one scene (:mod:`fusion.model.adapt`).
        """
        return self.read(self.parts(landsat, guide, dt_days), landsat, readout)

    def parts(
        self,
        landsat: torch.Tensor,
        guide: torch.Tensor | None = None,
        dt_days: torch.Tensor | float | None = None,
    ) -> Parts:
        """Everything up to the last linear step, in normalised units (see :class:`Parts`)."""
        n, _, h, w = landsat.shape
        mean, std = self._bands("band_mean"), self._bands("band_std")
        l_valid_b = torch.isfinite(landsat)
        l_valid = l_valid_b.all(1, keepdim=True)
        ln = torch.where(l_valid_b, (landsat - mean) / std, torch.zeros_like(landsat))

        if guide is None:
            guide = landsat.new_full((n, N_BANDS, SCALE * h, SCALE * w), math.nan)
        g_valid_b = torch.isfinite(guide)
        g_valid = g_valid_b.all(1, keepdim=True).to(landsat.dtype)
        gn = torch.where(g_valid > 0, (guide - mean) / std, torch.zeros_like(guide))
        g_frac = block_mean(g_valid)
        g_block = block_mean(gn * g_valid) / g_frac.clamp_min(_EPS)
        has_guide = (g_frac > 0).to(landsat.dtype)
        # Guide detail = guide − bicubic(its block mean): the high-pass of the classic guided
        # baseline, so a gain of 1 reproduces it exactly. Blocks without guide take Landsat's
        # value so masks do not bias the low-pass of their neighbours.
        g_block = torch.where(has_guide > 0, g_block, ln)
        g_detail = (gn - upsample(g_block)) * g_valid

        dtf = self._dt_feature(dt_days, landsat, g_valid)
        # Invalid Landsat pixels start from the guide's block mean where there is one.
        ln = torch.where(l_valid_b, ln, g_block * has_guide)
        lv = l_valid.to(landsat.dtype)
        feats = torch.cat(
            [
                ln,
                lv,
                g_block,
                (ln - g_block) * lv * has_guide,
                g_frac,
                dtf,
                self.unshuffle(g_detail),
                self.unshuffle(g_valid),
            ],
            dim=1,
        )
        z = self.body(F.relu(self.head_in(feats)))
        out = self.head_out(z)
        k = SCALE * SCALE * 2 * N_BANDS
        sub = self.shuffle(out[:, :k])
        gain = F.interpolate(out[:, k:], scale_factor=SCALE, mode="bilinear", align_corners=False)
        return Parts(
            base=upsample(ln),
            resid=sub[:, :N_BANDS],
            gain=gain,
            detail=g_detail,
            s_logit=sub[:, N_BANDS:],
            observed_b=replicate(l_valid_b.to(landsat.dtype)) > 0,
            guide_valid_b=g_valid_b,
        )

    def learnt_readout(self) -> Readout:
        """The trained last linear step: residual weight 1, the learnt detail filter ``M``."""
        w = self.mix.weight.detach()
        return Readout(w.new_ones(N_BANDS), w, w.new_ones(N_BANDS))

    def read(self, p: Parts, landsat: torch.Tensor, readout: Readout | None = None) -> FusionOutput:
        """The last linear step, back-projection and calibrated sigma: ``parts`` → output."""
        mean, std = self._bands("band_mean"), self._bands("band_std")
        if readout is None:
            mixed = self.mix(p.detail)
            resid = p.resid
            sigma_scale: torch.Tensor | float = 1.0
        else:
            k = readout.mix.shape[-1]
            mixed = F.conv2d(p.detail, readout.mix.to(p.detail.dtype), padding=k // 2)
            # The refit describes this scene's guide: where the guide is invalid the learnt
            # readout stays (the residual is then all the network has).
            guided = p.guide_valid_b
            w = readout.resid.to(p.resid.dtype).view(1, N_BANDS, 1, 1)
            resid = p.resid * torch.where(guided, w, 1.0)
            s = readout.sigma_scale.to(p.resid.dtype).view(1, N_BANDS, 1, 1)
            sigma_scale = torch.where(p.observed_b & guided, s, 1.0)
        pred = (p.base + resid + p.gain * mixed) * std + mean
        refl = enforce_consistency(pred, landsat)

        temp = torch.where(p.observed_b, self._bands("temp_observed"), self._bands("temp_gapfill"))
        sigma = (F.softplus(p.s_logit) + _SIGMA_FLOOR) * std * temp * sigma_scale
        keep = p.observed_b | p.guide_valid_b
        nan = torch.full_like(refl, math.nan)
        return FusionOutput(
            torch.where(keep, refl, nan),
            torch.where(keep, sigma, nan),
            replicate(torch.isfinite(landsat).all(1, keepdim=True).to(landsat.dtype)) > 0,
        )

    @staticmethod
    def _dt_feature(
        dt_days: torch.Tensor | float | None, like: torch.Tensor, g_valid: torch.Tensor
    ) -> torch.Tensor:
        """log-scaled |time gap| at 30 m: 0 same day, 1 a year; 1 where there is no guide."""
        if dt_days is None:
            dt = torch.full_like(g_valid, UNKNOWN_DT_DAYS)
        elif isinstance(dt_days, torch.Tensor):
            dt = dt_days.to(like.dtype).expand_as(g_valid)
            dt = torch.where(torch.isfinite(dt), dt, torch.full_like(dt, UNKNOWN_DT_DAYS))
        else:
            dt = torch.full_like(g_valid, UNKNOWN_DT_DAYS if math.isnan(dt_days) else dt_days)
        feat = torch.log1p(dt.abs()) / math.log1p(DT_SCALE_DAYS)
        feat = torch.where(g_valid > 0, feat, torch.ones_like(feat))
        return block_mean(feat)
