"""Post-hoc calibration of sigma and a quick held-out evaluation used at the end of training.

Temperature scaling (Guo et al., ICML 2017; Kuleshov et al., ICML 2018 for regression): one
scalar per band, separately for pixels Landsat observed and pixels gap-filled from the guide,
set so the 0.9 quantile of |error| / σ equals 1.645 — i.e. 90 % of errors fall within 1.645 σ,
the Gaussian two-sided 90 % interval — on held-out calibration scenes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import torch

from fusion.model.data import SCENARIOS, Scenario, make_batch
from fusion.model.metrics import bicubic
from fusion.model.network import FusionNet
from fusion.model.sources import SceneSet

Z90: Final = 1.645
_MIN_PIXELS: Final = 2000


def calibrate(
    model: FusionNet,
    cal: SceneSet,
    *,
    seed: int,
    batches: int,
    patch: int,
    batch: int,
    scenario_p: Mapping[Scenario, float] | None = None,
) -> dict[str, list[float]]:
    """Fit and set ``temp_observed`` / ``temp_gapfill``; returns them."""
    model.temp_observed.fill_(1.0)
    model.temp_gapfill.fill_(1.0)
    ratios: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for i in range(batches):
        rng = np.random.default_rng([seed, 50_000 + i])
        b = make_batch(
            cal.scenes,
            cal.weights,
            rng,
            batch=batch,
            patch=patch,
            scenario_p=dict(scenario_p or {}) or None,
        )
        with torch.inference_mode():
            out = model(b.landsat, b.guide, b.dt_days)
        r = ((out.reflectance - b.target).abs() / out.sigma).numpy()
        observed = np.broadcast_to(out.observed.numpy(), r.shape)
        for obs in (True, False):
            sel = np.where(observed == obs, r, np.nan).transpose(1, 0, 2, 3).reshape(r.shape[1], -1)
            ratios[obs].append(sel)
    temps: dict[str, list[float]] = {}
    for obs, name in ((True, "temp_observed"), (False, "temp_gapfill")):
        allr = np.concatenate(ratios[obs], axis=1)
        t = []
        for band in allr:
            v = band[np.isfinite(band)]
            t.append(float(np.quantile(v, 0.9) / Z90) if v.size >= _MIN_PIXELS else float("nan"))
        temps[name] = t
    # Too few gap-filled pixels for a band: fall back to twice the observed temperature.
    temps["temp_gapfill"] = [
        g if np.isfinite(g) else 2 * o
        for g, o in zip(temps["temp_gapfill"], temps["temp_observed"], strict=True)
    ]
    temps["temp_observed"] = [o if np.isfinite(o) else 1.0 for o in temps["temp_observed"]]
    model.temp_observed.copy_(torch.tensor(temps["temp_observed"]))
    model.temp_gapfill.copy_(torch.tensor(temps["temp_gapfill"]))
    return temps


def evaluate(
    model: FusionNet, cal: SceneSet, *, seed: int, patch: int, batch: int
) -> dict[str, Any]:
    """Per-scenario RMSE of the network vs bicubic, and the share of errors within 1.645 σ."""
    res: dict[str, Any] = {}
    for k, sc in enumerate(SCENARIOS):
        rng = np.random.default_rng([seed, 90_000 + k])
        b = make_batch(cal.scenes, cal.weights, rng, batch=batch, patch=patch, scenario=sc)
        with torch.inference_mode():
            out = model(b.landsat, b.guide, b.dt_days)
        pred, sig, tgt = out.reflectance.numpy(), out.sigma.numpy(), b.target.numpy()
        bic = np.stack([bicubic(x) for x in b.landsat.numpy()])
        ok = np.isfinite(pred) & np.isfinite(tgt) & np.isfinite(bic)
        rmse = float(np.sqrt(np.mean((pred[ok] - tgt[ok]) ** 2)))
        rmse_bic = float(np.sqrt(np.mean((bic[ok] - tgt[ok]) ** 2)))
        within = float(np.mean(np.abs(pred[ok] - tgt[ok]) <= Z90 * sig[ok]))
        res[sc] = {
            "rmse": rmse,
            "rmse_bicubic": rmse_bic,
            "ratio": rmse / rmse_bic,
            "within_1.645_sigma": within,
        }
    return res
