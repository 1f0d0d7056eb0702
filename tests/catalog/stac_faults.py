"""ASGI middleware that makes a healthy API misbehave on demand: 429/503 answers, slow answers.

Tests queue faults from the main thread while uvicorn serves in its own, so every access to
the queue and the request log holds a lock.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass
class _Fault:
    status: int | None  # None: delay only
    delay_s: float
    retry_after: str | None
    path_prefix: str


class FaultInjector:
    """ASGI middleware: answers the next requests with an error status, or delays them.

    Thread-safe: tests (main thread) queue faults while uvicorn serves in its own thread.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self.log: list[tuple[str, str, int]] = []  # (method, path, injected status or 0)
        self.delayed = 0

    def fail(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: str | None = "0",
        path_prefix: str = "/search",
    ) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with ``status``."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(status, 0.0, retry_after, path_prefix))

    def delay(self, seconds: float, times: int = 1, *, path_prefix: str = "/search") -> None:
        """Hold the next ``times`` requests under ``path_prefix`` for ``seconds``, then serve them."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(None, seconds, None, path_prefix))

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.log.clear()
            self.delayed = 0

    def injected(self, status: int | None = None) -> int:
        """How many requests were answered with an injected status (or a given one)."""
        with self._lock:
            return sum(1 for *_, s in self.log if s and (status is None or s == status))

    def requests(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for _, p, _ in self.log if p.startswith(path_prefix))

    def _next_fault(self, path: str) -> _Fault | None:
        with self._lock:
            if self._faults and path.startswith(self._faults[0].path_prefix):
                return self._faults.popleft()
            return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        fault = self._next_fault(path)
        with self._lock:
            self.log.append((scope.get("method", ""), path, (fault.status or 0) if fault else 0))
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay_s:
            with self._lock:
                self.delayed += 1
            await asyncio.sleep(fault.delay_s)
        if fault.status is None:
            await self.app(scope, receive, send)
            return
        # Drain the request body so the connection stays usable for the client's retry.
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        body = json.dumps({"code": "Injected", "description": f"injected {fault.status}"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if fault.retry_after is not None:
            headers.append((b"retry-after", fault.retry_after.encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
