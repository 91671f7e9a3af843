"""Running ASGI apps with uvicorn inside provmon's own event loop, or on a thread of their own."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ListenError(Exception):
    """The server cannot listen where asked; ``str()`` is one line for a person."""


def check_free(host: str, port: int) -> None:
    """:class:`ListenError` with a one-line reason when ``host:port`` cannot be listened on.

    uvicorn reports a busy port by logging it and ``sys.exit(3)`` inside its task (a
    70-line traceback): try the bind first, as uvicorn will (``SO_REUSEADDR`` set).
    """
    where = f"cannot listen on {host}:{port}"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except socket.gaierror as exc:
        raise ListenError(f"{where}: unknown host ({exc.strerror})") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already in use (another provmon? choose another --port)"
        raise ListenError(f"{where}: {reason}") from None
    except (UnicodeError, ValueError, OverflowError) as exc:
        raise ListenError(f"{where}: {exc}") from None


class Server:
    """An ASGI app served by uvicorn as a task of the running loop."""

    def __init__(self, app: Any, host: str, port: int, *, log_level: str = "warning") -> None:
        if port == 0:
            port = free_port(host)
        self.host, self.port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            # probes and scrapers come back every few seconds: keep their connections
            timeout_keep_alive=120,
            backlog=4096,
        )
        self.server = uvicorn.Server(config)
        # provmon handles SIGTERM itself (finish probes, flush results), not uvicorn
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def check_free(self) -> None:
        check_free(self.host, self.port)

    async def start(self) -> None:
        self.check_free()
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # re-raise why it could not start
                raise OSError(f"cannot listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task


class ThreadedServer:
    """An ASGI app on a thread with its own event loop (the simulator beside the monitor)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.inner = Server(app, host, port)
        self._thread = threading.Thread(target=self._run, name="provmon-sim", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.inner.url

    def _run(self) -> None:
        async def main() -> None:
            try:
                await self.inner.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            assert self.inner._task is not None
            await self.inner._task

        asyncio.run(main())

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self.inner.server.should_exit = True
        self._thread.join(timeout=10)
