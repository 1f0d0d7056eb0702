"""Network weights with their metadata: a state dict (``NAME.pt``) beside ``NAME.json``.

The JSON says what the weights expect and how they were made (bands, units, normalisation,
calibration, architecture, training data, metrics, code revision, seed), in the manner of
torchgeo's weight enums. Loading checks it against the code and the state dict and fails with
a :class:`~fusion.errors.WeightsError` naming the file, the mismatch and the fix.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Final

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from fusion.bands import CANONICAL_BANDS
from fusion.errors import WeightsError
from fusion.model.consistency import SCALE
from fusion.model.network import FusionNet, NetConfig, receptive_field_30m

WEIGHTS_DIR: Final = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS: Final = "default"
FORMAT_VERSION: Final = 1


class WeightsMetadata(BaseModel):
    """What ``NAME.json`` holds."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format_version: int
    model: str = "fusion.model.network.FusionNet"
    architecture: dict[str, int]
    scale: int
    bands: list[str]
    units: str
    normalisation: dict[str, list[float]]
    calibration: dict[str, Any]
    receptive_field_30m: int
    sha256: str
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    code_revision: str | None = None
    seed: int | None = None
    created: str = ""
    torch_version: str = ""


def resolve(weights: str | Path) -> Path:
    """``"default"`` → the packaged weights; otherwise a path to ``NAME.pt``."""
    if str(weights) == DEFAULT_WEIGHTS:
        return WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.pt"
    path = Path(weights)
    return path if path.suffix == ".pt" else path.with_suffix(".pt")


def read_metadata(weights: str | Path) -> WeightsMetadata:
    """Read and validate ``NAME.json`` of some weights."""
    pt = resolve(weights)
    meta_path = pt.with_suffix(".json")
    if not pt.is_file() or not meta_path.is_file():
        raise WeightsError(
            f"weights {pt}: {pt.name} or {meta_path.name} not found; pass weights='default' or "
            "the .pt file written by `fusion train` (its .json must lie beside it)"
        )
    try:
        meta = WeightsMetadata.model_validate_json(meta_path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise WeightsError(
            f"weights metadata {meta_path}: field {'.'.join(map(str, first['loc']))} {first['msg']}; "
            "re-export the weights with fusion.model.weights.save_weights"
        ) from None
    _check_metadata(meta, meta_path)
    return meta


def _check_metadata(meta: WeightsMetadata, path: Path) -> None:
    problems = []
    if meta.format_version != FORMAT_VERSION:
        problems.append(f"format_version {meta.format_version} (this code reads {FORMAT_VERSION})")
    if meta.scale != SCALE:
        problems.append(f"scale {meta.scale} (the network upsamples by {SCALE})")
    if tuple(meta.bands) != CANONICAL_BANDS:
        problems.append(f"bands {meta.bands} (expected {list(CANONICAL_BANDS)})")
    norm = meta.normalisation
    if len(norm.get("mean", [])) != len(CANONICAL_BANDS) or len(norm.get("std", [])) != len(
        CANONICAL_BANDS
    ):
        problems.append("normalisation needs 6 'mean' and 6 'std' values")
    if problems:
        raise WeightsError(
            f"weights metadata {path}: {'; '.join(problems)}; retrain or use weights='default'"
        )


def check_bands(meta: WeightsMetadata, bands: tuple[str, ...], *, weights: str | Path) -> None:
    """Fail clearly when inputs carry other bands than the weights were trained on."""
    if tuple(meta.bands) != tuple(bands):
        raise WeightsError(
            f"weights {resolve(weights)} were trained on bands {meta.bands} but the input has "
            f"{list(bands)}; select them with .sel(band={meta.bands!r}) or use matching weights"
        )


def load_model(weights: str | Path = DEFAULT_WEIGHTS) -> FusionNet:
    """The network in eval mode, loaded once per process and file version (dask workers too)."""
    pt = resolve(weights)
    return _load(str(pt), pt.stat().st_mtime_ns if pt.is_file() else 0)


@functools.lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> FusionNet:
    meta = read_metadata(path)
    pt = Path(path)
    digest = _sha256(pt)
    if digest != meta.sha256:
        raise WeightsError(
            f"weights {pt}: sha256 {digest[:12]}… does not match its metadata ({meta.sha256[:12]}…); "
            "the .pt and .json come from different runs, re-export them together"
        )
    try:
        model = FusionNet(NetConfig(**meta.architecture))
        state = torch.load(pt, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (TypeError, RuntimeError) as exc:
        raise WeightsError(
            f"weights {pt}: state dict does not fit architecture {meta.architecture} ({str(exc).splitlines()[0]}); "
            "use the metadata written with these weights"
        ) from None
    if meta.receptive_field_30m != receptive_field_30m(model.cfg):
        raise WeightsError(
            f"weights {pt}: metadata says receptive field {meta.receptive_field_30m}, code computes "
            f"{receptive_field_30m(model.cfg)}; re-export the weights with this code"
        )
    for name in ("mean", "std"):
        buf = getattr(model, f"band_{name}")
        if not torch.allclose(buf, torch.tensor(meta.normalisation[name]), rtol=1e-5, atol=1e-7):
            raise WeightsError(
                f"weights {pt}: normalisation '{name}' in the .json differs from the state dict; "
                "re-export them together"
            )
    model.eval()
    model.requires_grad_(False)
    return model


def save_weights(
    model: FusionNet,
    path: str | Path,
    *,
    training: dict[str, Any],
    metrics: dict[str, Any],
    seed: int | None,
) -> Path:
    """Write ``path`` (.pt) and its ``.json`` metadata; returns the .pt path."""
    pt = Path(path).with_suffix(".pt")
    pt.parent.mkdir(parents=True, exist_ok=True)
    revision = code_revision()  # before writing: the shipped weights live in the source tree
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, pt)
    meta = WeightsMetadata(
        format_version=FORMAT_VERSION,
        architecture=model.cfg.to_dict(),
        scale=SCALE,
        bands=list(CANONICAL_BANDS),
        units="surface reflectance 0-1, Landsat OLI-like; Sentinel-2 guides bandpass-adjusted to OLI (HLS v2.0)",
        normalisation={"mean": model.band_mean.tolist(), "std": model.band_std.tolist()},
        calibration={
            "temp_observed": model.temp_observed.tolist(),
            "temp_gapfill": model.temp_gapfill.tolist(),
            "method": "per-band temperature = 0.9-quantile(|error|/sigma)/1.645 on held-out patches",
        },
        receptive_field_30m=receptive_field_30m(model.cfg),
        sha256=_sha256(pt),
        training=training,
        metrics=metrics,
        code_revision=revision,
        seed=seed,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        torch_version=torch.__version__,
    )
    pt.with_suffix(".json").write_text(json.dumps(meta.model_dump(), indent=2) + "\n")
    _load.cache_clear()
    return pt


def code_revision() -> str | None:
    """``git rev-parse HEAD`` of the source tree (with ``+dirty`` if its model code is
    modified; the weights folder, training's output, does not count), if available."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout.strip()

    try:
        rev = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "fusion/model", ":!fusion/model/weights")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
