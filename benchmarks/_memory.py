"""Peak resident memory of this process, for the benchmarks that measure it."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class RssSampler:
    """Peak resident memory above a baseline, sampled every 5 ms in a thread.

    ``ru_maxrss`` is the whole process's peak, dominated by imports; the increment while a
    measured step runs is what benchmarks compare. Use as a context manager.
    """

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        return int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
