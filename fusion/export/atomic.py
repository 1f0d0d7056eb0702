"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

Write to a temporary name in the destination folder (same filesystem, so ``os.replace`` is
atomic on POSIX and Windows), then rename over the target. An interrupted write leaves only
a stray temporary file, which the next write to that path removes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusion.errors import OutputError

_TMP_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    # Keep the real extension last: GDAL picks drivers (and warns) by it.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}{_TMP_SUFFIX}{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _output_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
    return path


def _output_error(path: Path, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        fix = "free disk space or choose another --out folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a writable --out folder or fix its permissions"
    else:
        fix = "check the output folder"
    return OutputError(f"output {path}: cannot write ({exc.strerror or exc}); {fix}")
