"""One run per output folder: an OS file lock, with the holder described in a side file.

Two runs writing into one folder would interleave their published files and manifests, so a
second run refuses at once and says who holds the folder. The lock is ``flock(2)`` through
:mod:`filelock`: the kernel drops it when the holding process dies, even by ``kill -9``, so a
crashed run never leaves a stale lock behind and there is nothing to clean up by hand. The
lock file itself stays (unlinking a locked file would let two processes lock two inodes under
one name); the side file with the holder's pid, host, start time and run id exists only while
the lock is held, and only feeds the refusal message.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from fusion.errors import OutputError, OutputLockedError
from fusion.export.atomic import write_json_atomic

LOCK_NAME = ".fusion.lock"
"""The lock file, in the output folder."""
HOLDER_NAME = ".fusion.lock.json"
"""Who holds the lock: pid, host, started, run_id (present only while it is held)."""


@contextmanager
def output_lock(out: Path, *, run_id: str, started: dt.datetime) -> Iterator[None]:
    """Hold the lock of output folder ``out`` (created if missing) for the ``with`` block.

    Raises :class:`OutputLockedError` at once when another process holds it, and
    :class:`~fusion.errors.OutputError` when the folder cannot be created or written.
    """
    lock = acquire(out, run_id=run_id, started=started)
    try:
        yield
    finally:
        release(lock)


def acquire(out: Path, *, run_id: str, started: dt.datetime) -> FileLock:
    """Take the lock of ``out`` without waiting; see :func:`output_lock`.

    Pair with :func:`release`, and keep the returned lock referenced until then: a dropped
    :class:`~filelock.FileLock` is released by its finaliser.
    """
    out = Path(out)
    # Not thread-local and not reentrant across calls: each call opens its own descriptor,
    # and flock(2) refuses a second descriptor even inside one process.
    lock = FileLock(out / LOCK_NAME, timeout=0, thread_local=False)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise OutputLockedError(_refusal(out)) from None
    except OSError as exc:
        raise OutputError(
            f"output folder {out}: not writable ({exc.strerror or exc}); choose another --out "
            "or fix its permissions"
        ) from exc
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": started.isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    try:
        write_json_atomic(holder, out / HOLDER_NAME)
    except BaseException:
        lock.release()
        raise
    return lock


def release(lock: FileLock) -> None:
    """Remove the holder file, then drop the lock (in that order: a new holder's file is
    never removed by the previous one)."""
    (Path(lock.lock_file).parent / HOLDER_NAME).unlink(missing_ok=True)
    lock.release()


def holder_of(out: Path) -> dict[str, Any] | None:
    """The holder's record of ``out``'s lock, or None when none is readable."""
    try:
        data = json.loads((Path(out) / HOLDER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _refusal(out: Path) -> str:
    holder = holder_of(out)
    if holder is None:  # the holder is between taking the lock and writing its record
        who = "another fusion run"
    else:
        who = (
            f"fusion run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started', '?')})"
        )
    return (
        f"output folder {out}: locked by {who}; wait for that run to finish or choose another "
        "--out (the lock is freed automatically when its process ends, even if killed)"
    )
