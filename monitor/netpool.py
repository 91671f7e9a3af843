"""httpcore's connection pool, HTTP/1.1, with asyncio's locks instead of anyio's.

httpcore takes three locks per request (the connection's, twice the HTTP/1.1 state's) and
waits once on an event for its connection. On asyncio those are anyio's, and anyio's lock
and already-set event always pass through the event loop once before returning (a
checkpoint): four loop iterations per request that do nothing for a probe, each with a
cancel scope. An uncontended :class:`asyncio.Lock` returns at once, and so does
:class:`_Event` once set. Contended, both wait as before; a pool timeout is still
``httpcore.PoolTimeout``. Closing no connection opens no shielded cancel scope.

This reaches into three of httpcore's attributes (``AsyncHTTPConnection._request_lock``
and ``._connection``, ``AsyncHTTP11Connection._state_lock``, the pool request's
``_connection_acquired``); ``tests/test_netpool.py`` fails if a new httpcore renames them.
"""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType
from typing import Any

import httpcore
from httpcore import AsyncNetworkBackend


class _Lock:
    """An async context manager over :class:`asyncio.Lock` (what httpcore's ``AsyncLock``
    offers: ``async with``)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> _Lock:
        await self._lock.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._lock.release()


class _Event:
    """httpcore's ``AsyncEvent`` contract: ``set()``, and ``wait(timeout)`` raising
    ``PoolTimeout``; returns at once when already set."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: asyncio.Event | None = None

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float | None = None) -> None:
        if self._set:
            return
        self._event = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError as exc:
            raise httpcore.PoolTimeout("no connection free within the pool timeout") from exc


class _Connection(httpcore.AsyncHTTPConnection):
    """A connection whose own lock, and whose HTTP/1.1 connection's state lock, are
    asyncio's (the latter is swapped as httpcore stores the new HTTP/1.1 connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_lock = _Lock()  # type: ignore[assignment]

    @property
    def _connection(self) -> Any:
        return self._http

    @_connection.setter
    def _connection(self, value: Any) -> None:
        if isinstance(value, httpcore.AsyncHTTP11Connection):
            value._state_lock = _Lock()  # type: ignore[assignment]
        self._http = value


class AsyncioPool(httpcore.AsyncConnectionPool):
    """An HTTP/1.1 connection pool (no proxy) on ``network_backend`` with asyncio locks."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int | None,
        max_keepalive_connections: int | None,
        keepalive_expiry: float | None,
        network_backend: AsyncNetworkBackend,
    ) -> None:
        super().__init__(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=network_backend,
        )
        self._settings = {
            "ssl_context": ssl_context,
            "keepalive_expiry": keepalive_expiry,
            "http1": True,
            "http2": False,
            "network_backend": network_backend,
        }

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        return _Connection(origin=origin, **self._settings)

    async def _close_connections(self, closing: list[httpcore.AsyncConnectionInterface]) -> None:
        # httpcore opens a shielded cancel scope twice a request, mostly to close nothing
        if closing:
            await super()._close_connections(closing)

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        # before httpcore hands a waiting request its connection (and sets its event)
        for waiting in self._requests:
            if not isinstance(waiting._connection_acquired, _Event):
                waiting._connection_acquired = _Event()  # type: ignore[assignment]
        return super()._assign_requests_to_connections()
