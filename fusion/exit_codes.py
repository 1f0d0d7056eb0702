"""Exit codes of the ``fusion`` command, the contract with schedulers.

======  ==========================================================================
code    meaning
======  ==========================================================================
0       success (with ``--detailed-exit-codes``: success and no new alerts)
1       failed: bad input or a run error; earlier outputs are intact
2       usage error: unknown option, malformed value, missing ``--aoi``
3       ``--detailed-exit-codes`` only: success, and the run added confirmed alerts
4       ``--detailed-exit-codes`` only: success, but inputs were skipped (the manifest's
        status is ``partial``) and no new alerts were found
75      busy: another run holds the output folder's lock; nothing was done, retry later
        (``EX_TEMPFAIL`` of sysexits.h)
130     interrupted (Ctrl-C, SIGINT); earlier outputs are intact
======  ==========================================================================

Every successful run exits 0 unless ``--detailed-exit-codes`` asks for 3 and 4: systemd
marks any other status as a failed unit (unless ``SuccessExitStatus=``) and Airflow fails a
``BashOperator`` on it, so "new alerts" must never look like a failure by default. The
opt-in follows ``terraform plan -detailed-exitcode``. New alerts (3) win over a partial run
(4): missing an alert notification costs more than missing a data-gap notice, which the
manifest and the warnings report anyway. A run refused because an earlier one still holds
the output folder gets its own code: it is not broken, it overlapped (a slow run under cron).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the manifest pulls in pydantic and rasterio; the CLI imports this at start
    from fusion.export.manifest import RunManifest

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NEW_ALERTS = 3
EXIT_PARTIAL = 4
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130


def run_exit_code(manifest: RunManifest, *, detailed: bool) -> int:
    """The exit status of a run that published its outputs."""
    if not detailed:
        return EXIT_OK
    if manifest.new_alerts > 0:
        return EXIT_NEW_ALERTS
    if manifest.status == "partial":
        return EXIT_PARTIAL
    return EXIT_OK
