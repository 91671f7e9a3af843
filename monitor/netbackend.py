"""An httpcore network backend written directly on asyncio's transports and protocols.

httpcore's own backend on asyncio goes through anyio: every read and every write opens a
cancel scope for its timeout and passes through a stream wrapper or two, which is a real
share of a control probe's CPU. Here a connection is one :class:`_Pipe` protocol that
buffers what arrives; a read that finds data returns it without waiting, and a wait is one
future with one timer (no cancel scope). Errors are raised as the same httpcore exceptions
anyio's backend raises, so httpx maps them to the same classes and
:func:`monitor.http.classify_transport_error` classifies every fault as before:

- connect: ``TimeoutError`` -> ``ConnectTimeout``, any other ``OSError`` (refused, DNS) ->
  ``ConnectError``; TLS handshake the same (``ssl.SSLError`` is an ``OSError``);
- read: timeout -> ``ReadTimeout``; reset, or a stream already closed -> ``ReadError``; the
  peer's end of stream -> ``b""`` (h11 then says what was missing);
- write: timeout (the peer not reading) -> ``WriteTimeout``; a lost connection ->
  ``WriteError``.

TLS is asyncio's (``loop.start_tls``) with the caller's ``SSLContext``, so verification is
unchanged. Closing a TLS stream does not wait for the peer's ``close_notify`` (as httpcore's
anyio backend, which wraps TLS with ``standard_compatible=False``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

#: httpcore's socket option tuples (``httpcore._backends.base.SOCKET_OPTION``)
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

#: stop reading from the socket while this much is buffered and not yet read (a large
#: image download must not be held in memory faster than the probe consumes it)
HIGH_WATER = 1024 * 1024


def _expire(waiter: asyncio.Future[None], error: type[Exception], what: str) -> None:
    if not waiter.done():
        waiter.set_exception(error(f"timed out {what}"))


class _Pipe(asyncio.Protocol):
    """One connection's receiving side: chunks as they arrived, end of stream, loss."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        #: where the first chunk's unread part starts
        self.offset = 0
        self.buffered = 0
        self.eof = False
        #: set when the connection is gone (closed by us or lost); ``error`` says why
        self.lost = False
        self.error: BaseException | None = None
        self.tls = False
        self.reading_paused = False
        self.writing_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        # keep our sending side open on plain TCP, as a socket does after the peer's FIN
        # (asyncio's TLS transport ignores this and only warns if asked)
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- for the stream --------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of what is buffered (the first chunk whole when it fits; a
        larger one is handed out in pieces, each byte copied once)."""
        first, start = self.chunks[0], self.offset
        end = start + max_bytes
        if end >= len(first):
            self.chunks.popleft()
            self.offset = 0
            piece = first[start:] if start else first
        else:
            self.offset = end
            piece = first[start:end]
        self.buffered -= len(piece)
        if self.reading_paused and self.buffered <= HIGH_WATER // 4 and not self.lost:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return piece

    async def wait(
        self, timeout: float | None, error: type[Exception], what: str, drain: bool = False
    ) -> None:
        """Until data, end of stream or loss arrive (or, with ``drain``, until the transport
        takes writes again); ``error`` when ``timeout`` passes first."""
        if timeout is not None and timeout <= 0:
            raise error(f"timed out {what}")
        waiter: asyncio.Future[None] = self.loop.create_future()
        if drain:
            self._drained = waiter
        else:
            self._waiter = waiter
        timer = (
            None if timeout is None else self.loop.call_later(timeout, _expire, waiter, error, what)
        )
        try:
            await waiter
        finally:
            if drain:
                self._drained = None
            else:
                self._waiter = None
            if timer is not None:
                timer.cancel()


class AsyncioStream(AsyncNetworkStream):
    """httpcore's view of one connection: read, write, close, upgrade to TLS."""

    def __init__(self, transport: asyncio.Transport, pipe: _Pipe) -> None:
        self._transport = transport
        self._pipe = pipe

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        pipe = self._pipe
        if not pipe.chunks:
            if pipe.eof:
                return b""
            if pipe.lost:
                raise httpcore.ReadError(_why(pipe.error, "connection closed"))
            await pipe.wait(timeout, httpcore.ReadTimeout, "reading")
            if not pipe.chunks:
                if pipe.eof:
                    return b""
                raise httpcore.ReadError(_why(pipe.error, "connection closed"))
        return pipe.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        pipe = self._pipe
        if pipe.lost or self._transport.is_closing():
            raise httpcore.WriteError(_why(pipe.error, "connection closed"))
        self._transport.write(buffer)
        if pipe.writing_paused:
            await pipe.wait(timeout, httpcore.WriteTimeout, "writing", drain=True)
            if pipe.lost:
                raise httpcore.WriteError(_why(pipe.error, "connection closed"))

    async def aclose(self) -> None:
        self._pipe.lost = True
        if self._pipe.tls:
            # no close_notify round trip: the connection is done with either way
            self._transport.abort()
        elif not self._transport.is_closing():
            self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        pipe = self._pipe
        try:
            async with asyncio.timeout(timeout):
                tls = await pipe.loop.start_tls(
                    self._transport, pipe, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, EOFError) as exc:  # ssl.SSLError and resets are OSErrors
            await self.aclose()
            raise httpcore.ConnectError(_why(exc, "TLS handshake failed")) from exc
        except BaseException:
            await self.aclose()
            raise
        if tls is None:  # the connection closed during the handshake
            await self.aclose()
            raise httpcore.ConnectError("connection closed in the TLS handshake")
        pipe.transport, pipe.tls = tls, True
        return AsyncioStream(tls, pipe)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # idle keep-alive connection: anything received, or the end, means unusable
            pipe = self._pipe
            return bool(pipe.chunks) or pipe.eof or pipe.lost
        key = _EXTRA.get(info)
        return None if key is None else self._transport.get_extra_info(key)


_EXTRA = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}


def _why(exc: BaseException | None, default: str) -> str:
    text = str(exc) if exc is not None else ""
    return text or (type(exc).__name__ if exc is not None else default)


class AsyncioBackend(AsyncNetworkBackend):
    """httpcore's network backend on the running asyncio loop (uvloop's too)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        return await self._connect(
            lambda: loop.create_connection(lambda: _Pipe(loop), host, port, local_addr=local),
            timeout,
            socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return await self._connect(
            lambda: loop.create_unix_connection(lambda: _Pipe(loop), path),
            timeout,
            socket_options,
        )

    async def _connect(
        self,
        opening: Callable[[], Any],
        timeout: float | None,
        socket_options: Iterable[SocketOption] | None,
    ) -> AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                transport, pipe = await opening()
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpcore.ConnectTimeout("timed out connecting") from exc
        except OSError as exc:  # refused, unreachable, unresolvable
            raise httpcore.ConnectError(_why(exc, "connect failed")) from exc
        sock = transport.get_extra_info("socket")
        try:
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            transport.close()
            raise httpcore.ConnectError(_why(exc, "socket option refused")) from exc
        return AsyncioStream(transport, pipe)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
