"""Seeded random streams and smooth fractal noise.

Every random draw of the simulator comes from a stream keyed by (seed, purpose, ...), never
from a shared generator, so one scene's pixels do not depend on which other scenes were made
or in which order (and scenes can be rendered in parallel).
"""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, *key: int | str) -> np.random.Generator:
    """An independent generator for ``key`` under ``seed`` (stable across runs and platforms)."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    beta: float = 8.0 / 3.0,
    corner_px: float = 8.0,
) -> np.ndarray:
    """Zero-mean, unit-variance 2-D noise with a power-law spectrum ``(f² + f0²)^(-beta/2)``.

    The default ``beta`` of 8/3 gives cloud-like fields: Landsat cloud radiances follow about
    k^-5/3 along a line (Cahalan & Snider 1989, Remote Sens. Environ. 28:95), k^-8/3 in 2-D.
    ``corner_px`` is the largest feature size in pixels. Synthesised by FFT on a periodic grid: cheap at any size.
    """
    ny, nx = shape
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    f0 = 1.0 / max(corner_px, 1.0)
    amplitude = (fy * fy + fx * fx + f0 * f0) ** (-beta / 4.0)
    white = rng.standard_normal((ny, nx))
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(ny, nx))
    field -= field.mean()
    field /= field.std() + 1e-12
    return field.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Zero-mean, unit-variance noise whose features are about ``scale_px`` pixels across."""
    ny, nx = shape
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    # Gaussian low-pass with standard deviation scale_px / 2 in space.
    sigma = max(scale_px, 0.3) / 2.0
    gain = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy * fy + fx * fx))
    field = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((ny, nx))) * gain, s=(ny, nx))
    field -= field.mean()
    field /= field.std() + 1e-12
    return field.astype(np.float32)
