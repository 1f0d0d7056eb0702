"""Image-quality metrics and reference methods for the fusion benchmarks.

Metrics follow the pansharpening literature (Wald 2002; Vivone et al. 2015, IEEE TGRS 53):
RMSE, PSNR, SSIM (Wang et al. 2004, per band, averaged), SAM (mean spectral angle, degrees)
and ERGAS (100 · (1/3) · sqrt(mean_b (RMSE_b / mean_b)²) for a ×3 resolution ratio).
References: bicubic interpolation of Landsat, and the classic guided baseline: bicubic plus
the guide's high-pass scaled by a per-band regression gain (high-pass filtering / HPM family,
Schowengerdt 1980; Vivone et al. 2015 §III).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from skimage.metrics import structural_similarity

from fusion.model.consistency import SCALE, block_mean_np

RATIO: Final = 1 / SCALE


def _fill(x: np.ndarray) -> np.ndarray:
    """NaN → band mean (interpolators cannot take NaN; scoring ignores those pixels anyway)."""
    means = np.nanmean(np.where(np.isfinite(x), x, np.nan).reshape(x.shape[0], -1), axis=1)
    return np.where(np.isfinite(x), x, np.nan_to_num(means, nan=0.0)[:, None, None]).astype(
        np.float32
    )


def bicubic(landsat: np.ndarray) -> np.ndarray:
    """Bicubic ×3 of ``(band, h, w)`` with pixel-centre geometry (align_corners=False)."""
    t = torch.from_numpy(_fill(landsat))[None]
    return F.interpolate(t, scale_factor=SCALE, mode="bicubic", align_corners=False)[0].numpy()


def highpass_baseline(landsat: np.ndarray, guide: np.ndarray | None) -> np.ndarray:
    """bicubic(L) + g_b · (G − bicubic(D(G))), g_b = regression slope of L on D(G) per band."""
    up = bicubic(landsat)
    if guide is None or not np.isfinite(guide).any():
        return up
    g = _fill(guide)
    g_low = block_mean_np(g)
    detail = g - bicubic(g_low)
    detail = np.where(np.isfinite(guide), detail, 0.0)
    out = up.copy()
    for b in range(landsat.shape[0]):
        ok = np.isfinite(landsat[b]) & np.isfinite(block_mean_np(guide[b : b + 1])[0])
        x, y = g_low[b][ok], landsat[b][ok]
        gain = float(np.cov(x, y)[0, 1] / max(np.var(x, ddof=1), 1e-12)) if x.size > 10 else 0.0
        out[b] += float(np.clip(gain, 0.0, 2.0)) * detail[b]
    return out


def guide_as_is(landsat: np.ndarray, guide: np.ndarray | None) -> np.ndarray:
    """The guide copied; its invalid pixels taken from bicubic."""
    up = bicubic(landsat)
    return up if guide is None else np.where(np.isfinite(guide), guide, up)


def quality(
    pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, PSNR (peak 1.0 reflectance), SSIM, SAM (°), ERGAS over pixels valid in both."""
    ok = np.isfinite(pred).all(0) & np.isfinite(truth).all(0)
    if mask is not None:
        ok &= mask
    p, t = pred[:, ok].astype(np.float64), truth[:, ok].astype(np.float64)
    if p.shape[1] == 0:
        return {k: float("nan") for k in ("rmse", "psnr", "ssim", "sam_deg", "ergas")}
    rmse_b = np.sqrt(np.mean((p - t) ** 2, axis=1))
    rmse = float(np.sqrt(np.mean((p - t) ** 2)))
    cos = np.sum(p * t, 0) / np.maximum(
        np.linalg.norm(p, axis=0) * np.linalg.norm(t, axis=0), 1e-12
    )
    sam = float(np.degrees(np.mean(np.arccos(np.clip(cos, -1, 1)))))
    ergas = float(
        100 * RATIO * np.sqrt(np.mean((rmse_b / np.maximum(np.abs(t.mean(1)), 1e-6)) ** 2))
    )
    pf, tf = np.where(ok, pred, 0.0), np.where(ok, truth, 0.0)
    ssim = float(
        np.mean(
            [
                structural_similarity(pf[b], tf[b], data_range=max(float(np.ptp(t[b])), 1e-3))
                for b in range(pred.shape[0])
            ]
        )
    )
    return {
        "rmse": rmse,
        "psnr": float(20 * np.log10(1.0 / max(rmse, 1e-12))),
        "ssim": ssim,
        "sam_deg": sam,
        "ergas": ergas,
    }


def calibration_share(
    pred: np.ndarray, sigma: np.ndarray, truth: np.ndarray, z: float = 1.645
) -> float:
    """Share of errors within ``z`` σ (≈ 0.90 when calibrated)."""
    ok = np.isfinite(pred) & np.isfinite(sigma) & np.isfinite(truth)
    return (
        float(np.mean(np.abs(pred[ok] - truth[ok]) <= z * sigma[ok])) if ok.any() else float("nan")
    )


def hallucination(
    pred: np.ndarray, ref: np.ndarray, truth: np.ndarray, margin: float = 0.01
) -> dict[str, float]:
    """Share of pixel-bands where |error| exceeds the reference's by > margin (worse) or is
    below it by > margin (better)."""
    ok = np.isfinite(pred) & np.isfinite(ref) & np.isfinite(truth)
    d = np.abs(pred[ok] - truth[ok]) - np.abs(ref[ok] - truth[ok])
    return {
        "margin": margin,
        "worse_share": float(np.mean(d > margin)),
        "better_share": float(np.mean(d < -margin)),
    }
