"""The ``fusion`` command line.

Errors are one line on stderr and a non-zero exit, never a traceback (``--debug`` or
``FUSION_DEBUG=1`` shows it). ``--log-format json`` (or ``FUSION_LOG_FORMAT=json``) writes
every log record, warning and error as one JSON object per line on stderr, without progress
bars, and ``fusion run`` then prints its summary as one JSON object on stdout.

Exit codes (:mod:`fusion.exit_codes`):

====  ===================================================================================
0     success (with ``run --detailed-exit-codes``: success and no new alerts)
1     failed: bad input or a run error; earlier outputs are intact
2     usage error
3     ``run --detailed-exit-codes`` only: success, and the run added confirmed alerts
4     ``run --detailed-exit-codes`` only: success with skipped inputs (manifest status
      ``partial``) and no new alerts
75    busy: another run holds the output folder; nothing was done, retry later
130   interrupted; earlier outputs are intact
====  ===================================================================================
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fusion.errors import FusionError, FusionWarning, OutputLockedError
from fusion.exit_codes import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    run_exit_code,
)
from fusion.logs import LOG_FORMATS, configure, json_handler, log_warning

app = typer.Typer(
    name="fusion",
    help="Fuse Landsat and Sentinel-2 into a 10 m record and flag forest disturbance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
log = logging.getLogger("fusion")

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_USAGE", "app", "main"]


class _State:
    quiet = False
    debug = bool(os.environ.get("FUSION_DEBUG"))
    json = False
    logging_ready = False

    @classmethod
    def reset(cls, argv: list[str]) -> None:
        """Fresh state per invocation; JSON mode is read from ``argv`` before parsing, so
        even a usage error in the first options is reported as JSON."""
        cls.quiet = False
        cls.debug = bool(os.environ.get("FUSION_DEBUG"))
        cls.json = _wants_json(argv)
        cls.logging_ready = False


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD", param_hint=name
        ) from None


def _series(value: str | None) -> str | None:
    from fusion.pipeline.series import SERIES

    if value is not None and value not in SERIES:
        raise typer.BadParameter(
            f"{value!r}: use one of {', '.join(SERIES)}", param_hint="--sensors"
        )
    return value


def _choice(value: str | None, choices: tuple[str, ...], name: str) -> str | None:
    if value is not None and value not in choices:
        raise typer.BadParameter(f"{value!r}: use one of {', '.join(choices)}", param_hint=name)
    return value


@app.callback()
def _main(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors (for schedulers).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="FUSION_LOG_FORMAT",
            help="text, or json: one JSON object per line on stderr (log collectors), no bars.",
        ),
    ] = "text",
) -> None:
    if log_format not in LOG_FORMATS:
        raise typer.BadParameter(
            f"{log_format!r}: use one of {', '.join(LOG_FORMATS)}", param_hint="--log-format"
        )
    _State.quiet = quiet
    _State.debug = _State.debug or debug
    _State.json = log_format == "json"
    handler = json_handler() if _State.json else _RichLogHandler()
    if not _State.json:
        handler.setFormatter(logging.Formatter("%(message)s"))
    configure(handler, quiet=quiet)
    _State.logging_ready = True


AoiOpt = Annotated[
    Path, typer.Option("--aoi", help="AOI polygon file: GeoJSON, GeoPackage or Shapefile.")
]
SourceOpt = Annotated[
    str, typer.Option("--source", help="Data source from data_catalog.yaml (see `fusion sources`).")
]
StartOpt = Annotated[str | None, typer.Option("--start", help="First date, YYYY-MM-DD.")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last date, YYYY-MM-DD.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="data_catalog.yaml to use.")]
CloudOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cloud", help="Scene cloud-cover prefilter, percent (default: data_catalog.yaml)."
    ),
]


@app.command()
def run(
    aoi: Annotated[
        Path | None,
        typer.Option("--aoi", help="AOI polygon file: GeoJSON, GeoPackage or Shapefile."),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            "--pipeline",
            help="Monitoring definition YAML (pipelines/*.yaml); other options override it.",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Data source from data_catalog.yaml (default: demo)."),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: fusion-output).")
    ] = None,
    catalog: CatalogOpt = None,
    max_cloud: CloudOpt = None,
    sensors: Annotated[
        str | None,
        typer.Option(
            "--sensors", help="Series the monitor sees: fused (default), landsat or sentinel2."
        ),
    ] = None,
    monitor_start: Annotated[
        str | None,
        typer.Option(
            "--monitor-start", help="First monitored date (default: a third of the period in)."
        ),
    ] = None,
    on_missing: Annotated[
        str | None,
        typer.Option(
            "--on-missing",
            help="An unreadable asset: fail (default) the run, or skip its item and mark the "
            "run partial.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Where to compute: a Dask scheduler address (tcp://host:8786), 'local' (a "
            "LocalCluster of worker processes) or 'threads' (dask's threaded scheduler, the "
            "fastest on small machines); default: $DASK_SCHEDULER_ADDRESS, else "
            "$FUSION_SCHEDULER, else a Dask cluster in this process sized to the machine.",
        ),
    ] = None,
    tile_size_m: Annotated[
        int | None,
        typer.Option(
            "--tile-size-m",
            help="Processing tile edge in metres, a multiple of 30 (default 5010); a run holds "
            "one tile's results at a time, so smaller tiles need less memory. Keep it fixed "
            "for a monitored AOI: tile ids depend on it.",
        ),
    ] = None,
    forest_mask: Annotated[
        Path | None,
        typer.Option(
            "--forest-mask",
            help="Forest mask raster (any CRS; non-zero = forest) instead of the forest "
            "derived from the history.",
        ),
    ] = None,
    late_days: Annotated[
        float | None,
        typer.Option(
            "--late-days",
            min=0,
            help="Scenes reaching the catalogue up to this many days after newer ones are "
            "still monitored: each run replays the monitor over that many days (default 30; "
            "0: no replay).",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start the monitor over from this run's period, replacing the monitor states "
            "kept in the output folder (default: continue them, processing only newer scenes).",
        ),
    ] = False,
    detailed_exit_codes: Annotated[
        bool,
        typer.Option(
            "--detailed-exit-codes",
            help="Exit 3 when the run added confirmed alerts, 4 when inputs were skipped "
            "(partial run, no new alerts), 0 otherwise; without it every success exits 0.",
        ),
    ] = False,
) -> None:
    """Run the pipeline over an AOI and write its outputs.

    Exit codes: 0 success; 1 failed (earlier outputs intact); 2 usage error; 75 busy
    (another run holds the output folder); 130 interrupted. With --detailed-exit-codes: 0
    success and nothing new, 3 new confirmed alerts, 4 inputs skipped and nothing new.
    """
    from fusion.pipeline import RunConfig
    from fusion.pipeline import run as run_pipeline
    from fusion.pipeline.definition import load_pipeline

    overrides: dict[str, Any] = {
        "aoi": aoi,
        "source": source,
        "start": _date(start, "--start"),
        "end": _date(end, "--end"),
        "out": out_dir,
        "catalog": catalog,
        "max_cloud": max_cloud,
        "series": _series(sensors),
        "monitor_start": _date(monitor_start, "--monitor-start"),
        "on_missing": _choice(on_missing, ("fail", "skip"), "--on-missing"),
        "scheduler": scheduler,
        "tile_size_m": tile_size_m,
        "forest_mask": forest_mask,
        "fresh": fresh or None,
        "late_days": late_days,
    }
    if pipeline is not None:
        config = load_pipeline(pipeline).to_run_config(**overrides)
    elif aoi is None:
        raise typer.BadParameter("give --aoi FILE or --pipeline FILE", param_hint="--aoi")
    else:
        config = RunConfig(**{k: v for k, v in overrides.items() if v is not None})
    # JSON logs: no bars; the stages log their progress and durations instead.
    result = run_pipeline(config, progress=not (_State.quiet or _State.json))
    manifest = result.manifest
    code = run_exit_code(manifest, detailed=detailed_exit_codes)
    summary = {
        "run_id": manifest.run_id,
        "status": manifest.status,
        "new_alerts": manifest.new_alerts,
        "outputs": len(manifest.outputs),
        "out": str(result.out),
        "exit_code": code,
    }
    if _State.json:
        log.info(
            "run %s %s: %d outputs, %d new alerts in %s",
            manifest.run_id,
            manifest.status,
            len(manifest.outputs),
            manifest.new_alerts,
            result.out,
            extra={**summary, "timings_s": manifest.timings_s},
        )
        if not _State.quiet:  # stdout's last line: what Airflow's BashOperator pushes to XCom
            print(json.dumps(summary), flush=True)
    elif not _State.quiet:
        out.print(
            f"[bold]run {manifest.run_id}[/] {manifest.status}: {len(manifest.outputs)} outputs, "
            f"{manifest.new_alerts} new alerts in {result.out}"
        )
        for record in manifest.outputs:
            out.print(f"  {record.path}")
    if code:
        raise typer.Exit(code)


@app.command()
def search(
    aoi: AoiOpt,
    source: SourceOpt = "demo",
    start: StartOpt = None,
    end: EndOpt = None,
    catalog: CatalogOpt = None,
    max_cloud: CloudOpt = None,
) -> None:
    """List the scenes a run would use."""
    from fusion.pipeline import RunConfig
    from fusion.pipeline.runner import search_tiles

    config = RunConfig(
        aoi=aoi,
        source=source,
        start=_date(start, "--start"),
        end=_date(end, "--end"),
        catalog=catalog,
        max_cloud=max_cloud,
    )
    table = Table("tile", "sensor", "datetime (UTC)", "platform", "cloud %", "baseline", "item id")
    count = 0
    for tile, result in search_tiles(config):
        for record in result.provenance:
            count += 1
            table.add_row(
                tile.id,
                record.sensor,
                record.datetime.strftime("%Y-%m-%d %H:%M") if record.datetime else "",
                record.platform or "",
                "" if record.cloud_cover is None else f"{record.cloud_cover:.0f}",
                record.baseline or "",
                record.item_id,
            )
    out.print(table)
    out.print(f"{count} scenes")


@app.command()
def fuse(
    landsat: Annotated[
        Path, typer.Argument(help="Landsat reflectance GeoTIFF (6 canonical bands, 30 m).")
    ],
    guide: Annotated[
        Path | None,
        typer.Option(
            "--guide", help="Sentinel-2 guide GeoTIFF (6 bands, OLI-adjusted, 10 m, aligned)."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output COG (reflectance; sigma beside it).")
    ] = Path("fused.tif"),
    guide_dt_days: Annotated[
        float | None, typer.Option("--guide-dt-days", help="Days between the guide and Landsat.")
    ] = None,
    weights: Annotated[
        str, typer.Option("--weights", help="'default' or a .pt written by fusion train.")
    ] = "default",
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt/--no-adapt",
            help="Register the guide to Landsat and refit the network's readout on this scene"
            " (default); --no-adapt runs the trained network as it is.",
        ),
    ] = True,
) -> None:
    """Downscale one Landsat scene to 10 m with the fusion network."""
    from fusion.model.cli import fuse_files

    path = fuse_files(
        landsat, guide, output, weights=weights, guide_dt_days=guide_dt_days, adapt=adapt
    )
    if not _State.quiet:
        out.print(f"wrote {path}")


@app.command()
def train(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            help="Training config YAML (see fusion/model/configs/: base.yaml trains from "
            "scratch, finetune.yaml then default.yaml fine-tune it into the shipped weights).",
        ),
    ],
) -> None:
    """Train the fusion network (Wald protocol); resumes from the config's run_dir."""
    from fusion.model.train import train as train_network

    path = train_network(config)
    if not _State.quiet:
        out.print(f"wrote {path} and {path.with_suffix('.json')}")


@app.command()
def sources(catalog: CatalogOpt = None) -> None:
    """List the data sources configured in data_catalog.yaml."""
    from fusion.catalog.config import load_data_catalog

    data_catalog = load_data_catalog(catalog)
    table = Table("name", "kind", "where", "collections", "description")
    for name, src in data_catalog.sources.items():
        table.add_row(
            name, src.kind, src.location, ", ".join(src.collection_ids), src.description or ""
        )
    out.print(table)
    out.print(f"catalogue file: {data_catalog.path}")


class _RichLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        err.print(f"[{style}]{self.format(record)}[/]")


def _show_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    if not (issubclass(category, FusionWarning) or _State.debug):
        return
    if _State.json:
        log_warning(message, category)
    elif issubclass(category, FusionWarning):
        err.print(f"[yellow]warning:[/] {message}")
    else:
        err.print(f"[dim]{category.__name__}: {message}[/]")


def _wants_json(argv: list[str]) -> bool:
    if "--log-format=json" in argv:
        return True
    if any(a == "--log-format" and b == "json" for a, b in itertools.pairwise(argv)):
        return True
    return os.environ.get("FUSION_LOG_FORMAT") == "json" and not any(
        a.startswith("--log-format") for a in argv
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fusion`` console script."""
    _State.reset(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    try:
        # Without standalone mode, typer returns a command's `typer.Exit` code instead of
        # exiting (`run --detailed-exit-codes`), and turns Ctrl-C into a returned 130.
        code = app(args=argv, standalone_mode=False)
        if code == EXIT_INTERRUPTED:
            _fail("interrupted; earlier outputs are intact", code, error="interrupted")
        if isinstance(code, int) and code:
            sys.exit(code)
    except OutputLockedError as exc:  # an overlapping run, not a broken one: retry later
        _fail(f"error: {exc}", EXIT_BUSY, error=type(exc).__name__)
    except FusionError as exc:
        _fail(f"error: {exc}", EXIT_FAILED, error=type(exc).__name__)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted; earlier outputs are intact", EXIT_INTERRUPTED, error="interrupted")
    except typer.TyperException as exc:  # usage errors: bad option, bad date, missing --aoi
        if _State.json:
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            _fail(f"usage error: {message}", EXIT_USAGE, error="usage")
        exc.show()  # type: ignore[attr-defined]
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and report it)",
            EXIT_FAILED,
            error=type(exc).__name__,
        )


def _fail(message: str, code: int, *, error: str) -> None:
    if _State.json:
        # The final line is JSON too, so a collector parses every line of a failed run.
        if not _State.logging_ready:  # failed while parsing the first options
            configure(json_handler(), quiet=False)
        logging.getLogger("fusion.cli").error(
            message, exc_info=_State.debug, extra={"exit_code": code, "error": error}
        )
        sys.exit(code)
    if _State.debug:
        err.print_exception()
    err.print(message, markup=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
