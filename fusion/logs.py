"""Log output of the command line: readable lines on a terminal, or one JSON object per line.

JSON lines are for log collectors (journald, Airflow task logs shipped to Loki or
CloudWatch, ``jq``): every record carries ``time`` (ISO 8601, UTC), ``level``, ``logger`` and
``message``, plus whatever structured fields the code attached with ``extra=`` (``run_id``,
``tile``, ``stage``, ``duration_s``, ``exit_code`` …). Only the standard ``logging`` module is
used, so records from dask, rasterio or pystac-client come out the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; extras become top-level fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = self.formatException(record.exc_info)
        # default=str: paths, dates and numpy scalars in extras must never break a log line.
        return json.dumps(payload, default=str, ensure_ascii=False)


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing JSON lines to ``stream`` (standard error by default)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler


def configure(handler: logging.Handler, *, quiet: bool) -> None:
    """Route all logging through ``handler``: fusion's records from INFO (WARNING when
    ``quiet``), other libraries' from WARNING (stac-geoparquet logs memory use at INFO)."""
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("fusion").setLevel(logging.WARNING if quiet else logging.INFO)


def log_warning(
    message: Warning | str, category: type[Warning], *, logger: str = "fusion.warnings"
) -> None:
    """Log a Python warning as a WARNING record naming its class (``category`` field)."""
    logging.getLogger(logger).warning(str(message), extra={"category": category.__name__})
