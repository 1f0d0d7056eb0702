"""The staging folder of a run: where outputs are written before they are published.

A run writes everything into ``<out>/.staging-<key>/`` and moves the files into place only
when the whole run has succeeded, so a failed or interrupted run leaves earlier outputs
intact. ``key`` is a digest of the run's parameters, which makes an interrupted run resumable:
the rerun with the same parameters finds the staging folder, keeps the run id, and takes each
finished tile from its checkpoint instead of recomputing it. Publishing is resumable too: a
marker is written before the first file moves, and the next run in the folder completes a
publish it finds marked. The output lock (:mod:`fusion.pipeline.lock`) guarantees that any
other staging folder found belongs to a dead run.

Internal files (run identity, tile checkpoints, the publish marker) live under ``.fusion/`` in
the staging folder and are never published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from fusion.errors import OutputError
from fusion.export.atomic import write_json_atomic
from fusion.export.manifest import MANIFEST_NAME, TileRecord
from fusion.pipeline.config import RunConfig
from fusion.pipeline.incremental import STATE_DIR

log = logging.getLogger("fusion.pipeline")

PREFIX = ".staging-"
_INTERNAL = ".fusion"
_PUBLISHING = "publishing"


def run_key(config: RunConfig) -> str:
    """A digest of everything that decides a run's outputs (the resolved period included)."""
    params = {**config.to_dict(), "period": [str(d) for d in config.period()]}
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Staging:
    """One run's staging folder."""

    folder: Path
    run_id: str
    started: dt.datetime
    resumed: bool
    """The folder was left by an interrupted run with the same parameters."""

    @property
    def internal(self) -> Path:
        return self.folder / _INTERNAL

    def checkpoint_path(self, tile_id: str) -> Path:
        return self.internal / "tiles" / f"{tile_id}.json"

    def save_checkpoint(
        self,
        tile_id: str,
        *,
        record: TileRecord,
        files: dict[str, Path],
        polygons: gpd.GeoDataFrame | None,
        samples: pd.DataFrame | None,
        search: dict[str, Any],
        new_alerts: int,
        warnings: list[str],
    ) -> None:
        """Record that ``tile_id`` is finished: its files are staged and need no recompute."""
        tiles = self.internal / "tiles"
        tiles.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {
            "record": record.model_dump(mode="json"),
            "files": {k: str(p.relative_to(self.folder)) for k, p in files.items()},
            "search": search,
            "new_alerts": new_alerts,
            "warnings": warnings,
            "polygons": None,
            "samples": None,
        }
        if polygons is not None:
            entry["polygons"] = f"{tile_id}.polygons.parquet"
            polygons.to_parquet(tiles / entry["polygons"])
        if samples is not None:
            entry["samples"] = f"{tile_id}.samples.parquet"
            samples.to_parquet(tiles / entry["samples"])
        write_json_atomic(entry, self.checkpoint_path(tile_id))

    def load_checkpoint(self, tile_id: str) -> dict[str, Any] | None:
        """A finished tile's checkpoint (paths made absolute, frames read), or None."""
        path = self.checkpoint_path(tile_id)
        if not path.exists():
            return None
        entry: dict[str, Any] = json.loads(path.read_text())
        entry["record"] = TileRecord.model_validate(entry["record"])
        entry["files"] = {k: self.folder / p for k, p in entry["files"].items()}
        if entry["polygons"] is not None:
            entry["polygons"] = gpd.read_parquet(path.parent / entry["polygons"])
        if entry["samples"] is not None:
            entry["samples"] = pd.read_parquet(path.parent / entry["samples"])
        if not all(p.exists() for p in entry["files"].values()):
            return None  # a staged file went missing: recompute the tile
        return entry


def prepare(out: Path, config: RunConfig, *, run_id: str, started: dt.datetime) -> Staging:
    """The run's staging folder: resumed when an interrupted run with the same parameters
    left one, else new. Finishes publishes interrupted midway and removes abandoned folders
    (call with the output lock held)."""
    key = run_key(config)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for folder in sorted(out.glob(f"{PREFIX}*")):
            if (folder / _INTERNAL / _PUBLISHING).exists():
                log.warning("completing the interrupted publish of %s", folder.name)
                publish(folder, out)
            elif folder.name != PREFIX + key:
                shutil.rmtree(folder)  # a dead run with other parameters
        folder = out / f"{PREFIX}{key}"
        identity = folder / _INTERNAL / "run.json"
        if identity.exists():
            saved = json.loads(identity.read_text())
            log.info("resuming interrupted run %s", saved["run_id"])
            return Staging(
                folder, saved["run_id"], dt.datetime.fromisoformat(saved["started"]), True
            )
        (folder / _INTERNAL).mkdir(parents=True, exist_ok=True)
        write_json_atomic({"run_id": run_id, "started": started.isoformat()}, identity)
    except OSError as exc:
        raise OutputError(
            f"output folder {out}: not writable ({exc.strerror or exc}); choose another --out "
            "or fix its permissions"
        ) from exc
    return Staging(folder, run_id, started, False)


def publish(staging: Path, out: Path) -> None:
    """Move staged files into ``out``: outputs, then the manifest, then the monitor states,
    then remove the staging folder. Resumable: rerunning completes an interrupted publish."""
    marker = staging / _INTERNAL / _PUBLISHING
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        files = [
            p
            for p in staging.rglob("*")
            if p.is_file() and p.relative_to(staging).parts[0] != _INTERNAL
        ]

        def order(path: Path) -> tuple[int, str]:
            rel = path.relative_to(staging)
            # The manifest only describes files already in place; states advance last, so an
            # interruption before them makes the next run redo this run's acquisitions.
            rank = 2 if rel.parts[0] == STATE_DIR else 1 if rel.name == MANIFEST_NAME else 0
            return rank, str(rel)

        for path in sorted(files, key=order):
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
    except OSError as exc:
        raise OutputError(
            f"output folder {out}: cannot publish the run's files ({exc.strerror or exc}); "
            "check free space and permissions, then rerun to complete the publish"
        ) from exc
    shutil.rmtree(staging, ignore_errors=True)
