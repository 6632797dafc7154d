"""Limits that keep one caller from stopping the others.

A request body above MAX_BODY_BYTES is refused (413): at once when its
Content-Length says so, before a byte of it is read; sent chunked, as soon as
the bytes read pass the limit. A giant body would otherwise be parsed, turned
into one giant event and held in the log's lock while it travels to the
server, and every writer of every process waits on that lock.

While the store does not answer, callers hear so at once.

A request that meets a store that does not answer waits for its connection
(DATABASE_CONNECT_TIMEOUT) on each of the event store's ten attempts, and
holds a thread meanwhile; a few hundred of those would fill every thread of
the process. So the first such failure closes the gate: every request but
the health probes and the docs is answered 503 with Retry-After at once,
while one probe at a time asks the store every second, and the first answer
opens the gate again. Errors the server itself reports (a statement or lock
timeout, a constraint) say the store answers: they do not close it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("redwhistle.api")

OPEN_PATHS = ("/health", "/v1/health", "/v1/ready", "/docs", "/openapi.json", "/redoc")


def is_unreachable(exc: BaseException) -> bool:
    """A PostgreSQL error raised by the client side (no connection, the pool's
    wait ran out, the connection broke), not an answer of the server."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.Error):
            state = seen.sqlstate
            return state is None or state.startswith("08") or state.startswith("57P")
        seen = seen.__cause__ or seen.__context__
    return False


class StoreGate:
    def __init__(self, ping: Callable[[], object], interval: float = 1.0) -> None:
        self.ping = ping  # a question to the store, e.g. SELECT 1
        self.interval = interval
        self.closed = False
        self._prober: asyncio.Task | None = None

    def close(self) -> None:
        """Called on the event loop when a request met a store that did not answer."""
        if not self.closed:
            log.warning("the store does not answer: requests are refused until it does")
        self.closed = True
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        pending: asyncio.Future | None = None
        while self.closed:
            await asyncio.sleep(self.interval)
            if pending is None or pending.done():  # one question in flight at a time
                pending = asyncio.ensure_future(asyncio.to_thread(self.ping))
            try:
                await asyncio.wait_for(asyncio.shield(pending), self.interval)
            except Exception:  # noqa: BLE001 - still down, or slow: ask again
                continue
            self.closed = False
            log.warning("the store answers again")


class StoreGateMiddleware:
    def __init__(self, app: ASGIApp, gate: StoreGate,
                 refuse: Callable[[], object]) -> None:
        self.app = app
        self.gate = gate
        self.refuse = refuse  # the 503 response (api/errors.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.gate.closed and scope["type"] == "http"
                and not scope["path"].startswith(OPEN_PATHS)):
            await self.refuse()(scope, receive, send)  # type: ignore[operator]
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int,
                 refuse: Callable[[str], object]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse  # the 413 response (api/errors.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is over {self.max_bytes:,} bytes"
        try:
            length = int(Headers(scope=scope).get("content-length", ""))
        except ValueError:
            length = None
        if length is not None and length > self.max_bytes:
            await self.refuse(too_large)(scope, receive, send)  # type: ignore[operator]
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_bytes:
                    raise HTTPException(413, detail=too_large)  # the app's handler answers
            return message

        await self.app(scope, counted, send)
