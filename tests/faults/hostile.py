"""A raw TCP server that misbehaves the ways real providers and networks do.

Each case is chosen by the first path segment (``/hang/...``, ``/reset/...``); the server
answers with hand-written bytes, so it can send what no well-behaved framework would.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import gzip
import io
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable

from PIL import Image

Writer = asyncio.StreamWriter
Case = Callable[[Writer, str], Awaitable[None]]
#: the request headers of the connection being answered (lower-case names), for ``echo``
request_headers: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "request_headers", default={}
)
#: requests seen per case, across every server instance (tests wait on these)
hits: Counter[str] = Counter()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (9, 9, 9)).save(out, format="PNG")
    return out.getvalue()


def _huge_png_header() -> bytes:
    """A valid PNG that claims 60000 x 60000 pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _answer(
    status: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    head = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _image_answer(raw: bytes) -> bytes:
    return _answer(
        "200 OK",
        json.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(raw).decode()}]}).encode(),
    )


async def hang(w: Writer, path: str) -> None:
    await asyncio.sleep(3600)


async def trickle(w: Writer, path: str) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100000):
        w.write(b" ")
        await w.drain()
        await asyncio.sleep(0.05)


async def reset(w: Writer, path: str) -> None:
    w.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        b'{"data": ['
    )
    await w.drain()
    w.transport.abort()


async def storm(w: Writer, path: str) -> None:
    w.write(
        _answer(
            "503 Service Unavailable",
            b'{"error": {"message": "overloaded", "type": "server_error", "code": null}}',
        )
    )


async def throttle(w: Writer, path: str) -> None:
    w.write(
        _answer(
            "429 Too Many Requests",
            b'{"error": {"message": "slow down", '
            b'"type": "requests", "code": "rate_limit_exceeded"}}',
            {"Retry-After": "42"},
        )
    )


async def malformed(w: Writer, path: str) -> None:
    w.write(_answer("200 OK", b'{"created": 1, "data": [{"b64_json": "iVBOR'))


async def html(w: Writer, path: str) -> None:
    w.write(
        _answer(
            "200 OK",
            b"<html><body>Service temporarily moved</body></html>",
            content_type="text/html",
        )
    )


async def bomb(w: Writer, path: str) -> None:
    # 64 MiB of zeros compress to ~64 KiB: the cap must count decoded bytes
    body = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)
    w.write(_answer("200 OK", body, {"Content-Encoding": "gzip"}))


async def oversized(w: Writer, path: str) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    for _ in range(100):
        w.write(b"x" * 1024 * 1024)
        await w.drain()


async def redirect(w: Writer, path: str) -> None:
    w.write(_answer("302 Found", b"", {"Location": "http://evil.example.test/steal"}))


async def garbage(w: Writer, path: str) -> None:
    w.write(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")


async def empty(w: Writer, path: str) -> None:
    w.write(_answer("200 OK", b""))


async def wrong_size(w: Writer, path: str) -> None:
    w.write(_image_answer(_png(512, 512)))


async def undecodable(w: Writer, path: str) -> None:
    w.write(_image_answer(b"\x89PNG\r\n\x1a\nthis is not really a png"))


async def pixel_bomb(w: Writer, path: str) -> None:
    w.write(_image_answer(_huge_png_header()))


async def no_images(w: Writer, path: str) -> None:
    w.write(_answer("200 OK", b'{"created": 1, "data": []}'))


async def echo(w: Writer, path: str) -> None:
    """A 401 that echoes the credential it received, in the body and in headers, as some
    providers and proxies do; provmon must keep it out of everything it writes."""
    got = request_headers.get()
    key = got.get("authorization") or got.get("x-goog-api-key") or "none"
    body = {
        "error": {
            "message": f"Incorrect API key provided: {key}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "status": "UNAUTHENTICATED",
        },
        "request_id": key,
    }
    headers = {"X-Request-Id": key, "X-Echo-Credential": key, "WWW-Authenticate": f"Bearer {key}"}
    w.write(_answer("401 Unauthorized", json.dumps(body).encode(), headers))


CASES: dict[str, Case] = {
    "hang": hang,
    "trickle": trickle,
    "reset": reset,
    "storm": storm,
    "throttle": throttle,
    "malformed": malformed,
    "html": html,
    "bomb": bomb,
    "oversized": oversized,
    "redirect": redirect,
    "garbage": garbage,
    "empty": empty,
    "wrong_size": wrong_size,
    "undecodable": undecodable,
    "pixel_bomb": pixel_bomb,
    "no_images": no_images,
    "echo": echo,
}


async def _handle(reader: asyncio.StreamReader, writer: Writer) -> None:
    try:
        first = await reader.read(1)
        if first == b"\x16":  # a TLS handshake: answer with bytes that are not TLS
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\nthis server speaks no TLS\r\n")
            await writer.drain()
            return
        request_line = (first + await reader.readline()).decode("latin-1")
        length = 0
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            if name.strip().lower() == "content-length":
                length = int(value)
        request_headers.set(headers)
        if length:
            await reader.readexactly(length)
        path = request_line.split(" ")[1] if " " in request_line else "/"
        name = path.strip("/").split("/")[0]
        hits[name] += 1
        case = CASES.get(name)
        if case is None:
            writer.write(_answer("404 Not Found", b"{}"))
        else:
            await case(writer, path)
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class HostileServer:
    """Runs on its own thread and loop; ``url`` is its base."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            server = await asyncio.start_server(_handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
