"""The asyncio network backend (``monitor/netbackend.py``) over real sockets.

Every misbehaving peer is met by both backends in the same test: ours must raise the same
httpx exception as httpcore's own (anyio) backend, so ``classify_transport_error`` gives
every fault the outcome it gave before.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest

from monitor.http import BACKEND_ENV, ProbeClient, build_client, classify_transport_error
from monitor.netbackend import AsyncioBackend
from monitor.servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BACKENDS = ("anyio", "asyncio")
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[str]:
    """A raw TCP server on loopback answering every connection with ``handler``."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (linger 0), not the orderly FIN a plain close sends."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(30)


async def reset_before_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    reset(writer)


async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{"data": [')
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def half_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write_eof()
    await asyncio.sleep(30)


async def half_close_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    writer.write_eof()
    await asyncio.sleep(30)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
    await asyncio.sleep(30)


async def not_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def stall_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{")
    await asyncio.sleep(30)


async def blurt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(OK)
    await asyncio.sleep(30)


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(OK)
    await asyncio.sleep(30)


async def failure(url: str, *, body: bytes | None = None) -> BaseException:
    """What one request to ``url`` raised, on a probe client with 0.5 s timeouts."""
    client = build_client(timeout=0.5, cookies=False)
    try:
        await client.request("POST" if body else "GET", url, content=body)
    except httpx.HTTPError as exc:
        return exc
    finally:
        await client.aclose()
    raise AssertionError("the request did not fail")


async def both(
    monkeypatch: pytest.MonkeyPatch, url: str, *, body: bytes | None = None
) -> dict[str, BaseException]:
    found = {}
    for backend in BACKENDS:
        monkeypatch.setenv(BACKEND_ENV, backend)
        found[backend] = await failure(url, body=body)
    return found


PEERS = [
    (hang, httpx.ReadTimeout),
    (stall_mid_body, httpx.ReadTimeout),
    (reset_before_answer, httpx.ReadError),
    (reset_mid_body, httpx.ReadError),
    (half_close, httpx.RemoteProtocolError),
    (half_close_mid_body, httpx.RemoteProtocolError),
    (garbage, httpx.RemoteProtocolError),
]


@pytest.mark.parametrize(("handler", "expected"), PEERS, ids=[p[0].__name__ for p in PEERS])
async def test_a_misbehaving_peer_fails_the_same_way_on_both_backends(
    monkeypatch: pytest.MonkeyPatch, handler: Handler, expected: type[Exception]
) -> None:
    async with peer(handler) as url:
        found = await both(monkeypatch, f"{url}/v1/models/m")
    assert {b: type(e) for b, e in found.items()} == {b: expected for b in BACKENDS}
    outcomes = {b: classify_transport_error(e)[0] for b, e in found.items()}
    assert outcomes["asyncio"] == outcomes["anyio"]


async def test_a_peer_that_never_reads_is_a_write_timeout_on_both_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # more than loopback's socket buffers hold, so the sender must wait for the peer
    body = b"x" * (48 * 1024 * 1024)
    async with peer(not_reading) as url:
        found = await both(monkeypatch, f"{url}/upload", body=body)
    assert {b: type(e) for b, e in found.items()} == {b: httpx.WriteTimeout for b in BACKENDS}


async def test_a_refused_connection_is_a_connect_error_on_both_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = await both(monkeypatch, f"http://127.0.0.1:{free_port()}/v1")
    assert {b: type(e) for b, e in found.items()} == {b: httpx.ConnectError for b in BACKENDS}
    assert (
        classify_transport_error(found["asyncio"])[0] == classify_transport_error(found["anyio"])[0]
    )


async def test_a_full_listen_queue_is_a_connect_timeout_on_both_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener that never accepts, its queue full: the kernel drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        await asyncio.sleep(0.1)
        host, port = listener.getsockname()
        found = await both(monkeypatch, f"http://{host}:{port}/v1")
    finally:
        for s in (*fillers, listener):
            s.close()
    assert {b: type(e) for b, e in found.items()} == {b: httpx.ConnectTimeout for b in BACKENDS}


async def test_tls_to_a_plain_server_and_a_silent_one_fail_as_connect_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with peer(blurt) as url:
        plain = await both(monkeypatch, url.replace("http://", "https://") + "/v1")
    async with peer(not_reading) as url:
        silent = await both(monkeypatch, url.replace("http://", "https://") + "/v1")
    assert {b: type(e) for b, e in plain.items()} == {b: httpx.ConnectError for b in BACKENDS}
    assert {b: type(e) for b, e in silent.items()} == {b: httpx.ConnectTimeout for b in BACKENDS}


async def test_the_probe_client_is_on_the_asyncio_backend_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    client = build_client(cookies=False)
    assert isinstance(client, ProbeClient)
    pool = client.probe_transport._pool
    assert isinstance(pool._network_backend, AsyncioBackend)
    monkeypatch.setenv(BACKEND_ENV, "anyio")
    other = build_client()
    assert not isinstance(other._transport._pool._network_backend, AsyncioBackend)  # type: ignore[attr-defined]
    monkeypatch.setenv(BACKEND_ENV, "carrier-pigeon")
    with pytest.raises(ValueError, match=BACKEND_ENV):
        build_client()
    await client.aclose()
    await other.aclose()


async def test_a_large_body_arrives_whole_through_the_read_pause() -> None:
    """More than the backend buffers before it stops reading, read in small steps."""
    payload = bytes(range(256)) * (12 * 1024)  # 3 MiB

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        await writer.drain()
        await asyncio.sleep(30)

    async with peer(big) as url:
        client = build_client(timeout=10, cookies=False)
        try:
            async with client.stream("GET", url + "/image.png") as response:
                got = bytearray()
                async for chunk in response.aiter_raw():
                    got += chunk
                    await asyncio.sleep(0)
        finally:
            await client.aclose()
    assert bytes(got) == payload


async def test_an_idle_connection_the_peer_closed_is_not_reused() -> None:
    """Keep-alive: after the peer closes an idle connection, the next request opens a new
    one (the pool sees the end of stream) instead of failing on the dead one."""
    connections = 0

    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        writer.close()

    async with peer(once_then_close) as url:
        client = build_client(timeout=5, cookies=False)
        try:
            first = await client.get(url + "/a")
            await asyncio.sleep(0.2)  # the FIN arrives while the connection is idle
            second = await client.get(url + "/b")
        finally:
            await client.aclose()
    assert (first.status_code, second.status_code, connections) == (200, 200, 2)


async def test_a_cancelled_read_leaves_the_client_usable() -> None:
    async with peer(hang) as slow, peer(answer) as fast:
        client = build_client(timeout=5, cookies=False)
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await client.get(slow + "/x")
            response = await client.get(fast + "/y")
        finally:
            await client.aclose()
    assert response.status_code == 200


async def test_socket_options_are_applied_and_extra_info_answers() -> None:
    async with peer(answer) as url:
        port = int(url.rsplit(":", 1)[1])
        stream = await AsyncioBackend().connect_tcp(
            "127.0.0.1",
            port,
            timeout=5,
            socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)],
        )
        try:
            sock = stream.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
            assert stream.get_extra_info("ssl_object") is None
            assert stream.get_extra_info("is_readable") is False
            await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
            assert await stream.read(65536, timeout=5) == OK
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(65536, timeout=0.05)
        finally:
            await stream.aclose()
        with pytest.raises(httpcore.ReadError):
            await stream.read(10, timeout=1)
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"more", timeout=1)


async def test_the_stream_hands_out_large_chunks_in_pieces_and_pauses_a_fast_sender() -> None:
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB, sent at once

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(30)

    async with peer(flood) as url:
        port = int(url.rsplit(":", 1)[1])
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
            await asyncio.sleep(0.3)  # the sender outruns a reader that does not read
            pipe = stream._pipe  # type: ignore[attr-defined]
            assert pipe.reading_paused, "reading stops past the high-water mark"
            assert pipe.buffered <= 2 * 1024 * 1024
            got = bytearray()
            while len(got) < len(payload):
                piece = await stream.read(1000, timeout=5)
                assert 0 < len(piece) <= 1000
                got += piece
            assert not pipe.reading_paused
        finally:
            await stream.aclose()
    assert bytes(got) == payload
