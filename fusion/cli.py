"""The ``fusion`` command line.

Errors are one line on stderr and a non-zero exit, never a traceback (``--debug`` or
``FUSION_DEBUG=1`` shows it). Exit codes: 0 done, 1 failed (bad input or a run error),
2 usage error, 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fusion.errors import FusionError, FusionWarning

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

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _State:
    quiet = False
    debug = bool(os.environ.get("FUSION_DEBUG"))


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


@app.callback()
def _main(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors (for schedulers).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    _State.quiet = quiet
    _State.debug = _State.debug or debug
    # Libraries log at INFO too (stac-geoparquet logs memory use): only fusion's own messages
    # are shown at INFO; everyone else's from WARNING.
    logging.basicConfig(
        level=logging.WARNING, format="%(message)s", handlers=[_RichLogHandler()], force=True
    )
    log.setLevel(logging.WARNING if quiet else logging.INFO)


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
) -> None:
    """Run the pipeline over an AOI and write its outputs."""
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
    }
    if pipeline is not None:
        config = load_pipeline(pipeline).to_run_config(**overrides)
    elif aoi is None:
        raise typer.BadParameter("give --aoi FILE or --pipeline FILE", param_hint="--aoi")
    else:
        config = RunConfig(**{k: v for k, v in overrides.items() if v is not None})
    result = run_pipeline(config, progress=not _State.quiet)
    if not _State.quiet:
        manifest = result.manifest
        out.print(
            f"[bold]run {manifest.run_id}[/] {manifest.status}: {len(manifest.outputs)} outputs in {result.out}"
        )
        for record in manifest.outputs:
            out.print(f"  {record.path}")


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
) -> None:
    """Downscale one Landsat scene to 10 m with the fusion network."""
    from fusion.model.cli import fuse_files

    path = fuse_files(landsat, guide, output, weights=weights, guide_dt_days=guide_dt_days)
    if not _State.quiet:
        out.print(f"wrote {path}")


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
    if issubclass(category, FusionWarning):
        err.print(f"[yellow]warning:[/] {message}")
    elif _State.debug:
        err.print(f"[dim]{category.__name__}: {message}[/]")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fusion`` console script."""
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=False)
    except FusionError as exc:
        _fail(f"error: {exc}", EXIT_FAILED)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted; earlier outputs are intact", EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: bad option, bad date, missing --aoi
        exc.show()  # type: ignore[attr-defined]
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and report it)",
            EXIT_FAILED,
        )


def _fail(message: str, code: int) -> None:
    if _State.debug:
        err.print_exception()
    err.print(message, markup=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
