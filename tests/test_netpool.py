"""The HTTP/1.1 pool on asyncio locks (``monitor/netpool.py``): the same queueing, reuse
and pool timeouts as httpcore's own, over real sockets."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from monitor.http import BACKEND_ENV, ProbeClient, build_client
from monitor.netpool import AsyncioPool, _Event, _Lock
from tests.test_netbackend import OK, hang, peer, read_request

BACKENDS = ("anyio", "asyncio")


def counting_peer(delay: float) -> tuple[list[int], object]:
    """A keep-alive peer answering every request after ``delay``; counts connections."""
    opened = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened[0] += 1
        while True:
            await read_request(reader)
            await asyncio.sleep(delay)
            writer.write(OK)
            await writer.drain()

    return opened, handler


async def test_the_pool_uses_asyncio_locks_where_httpcore_has_anyio_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards the reach into httpcore: if a new httpcore renamed what is swapped, the swap
    would silently stop; this fails instead."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    opened, handler = counting_peer(0.0)
    async with peer(handler) as url:  # type: ignore[arg-type]
        client = build_client(timeout=5, cookies=False)
        assert isinstance(client, ProbeClient)
        pool = client.probe_transport._pool
        assert isinstance(pool, AsyncioPool)
        try:
            assert (await client.get(url + "/a")).status_code == 200
            (connection,) = pool.connections
            assert isinstance(connection._request_lock, _Lock)  # type: ignore[attr-defined]
            http11 = connection._connection  # type: ignore[attr-defined]
            assert isinstance(http11._state_lock, _Lock)
            waiting = []
            original = pool._assign_requests_to_connections

            def spy() -> list:  # type: ignore[type-arg]
                closing = original()
                waiting.extend(r._connection_acquired for r in pool._requests)
                return closing

            pool._assign_requests_to_connections = spy  # type: ignore[method-assign]
            assert (await client.get(url + "/b")).status_code == 200
        finally:
            await client.aclose()
    assert waiting and all(isinstance(e, _Event) for e in waiting)
    assert opened[0] == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_requests_beyond_the_pool_queue_and_reuse_its_connection(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv(BACKEND_ENV, backend)
    opened, handler = counting_peer(0.2)
    async with peer(handler) as url:  # type: ignore[arg-type]
        client = build_client(timeout=5, max_connections=1, cookies=False)
        try:
            began = time.monotonic()
            answers = await asyncio.gather(*(client.get(f"{url}/{i}") for i in range(3)))
            took = time.monotonic() - began
        finally:
            await client.aclose()
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert opened[0] == 1, "one connection, taken in turn"
    assert took >= 0.55, "the second and third waited for the first"


async def test_a_full_pool_times_out_the_same_way_on_both_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = {}
    async with peer(hang) as url:
        for backend in BACKENDS:
            monkeypatch.setenv(BACKEND_ENV, backend)
            client = build_client(timeout=5, max_connections=1, cookies=False)
            try:
                stuck = asyncio.create_task(client.get(url + "/stuck"))
                await asyncio.sleep(0.1)
                with pytest.raises(httpx.PoolTimeout) as caught:
                    await client.get(url + "/next", timeout=httpx.Timeout(5, pool=0.2))
                found[backend] = type(caught.value)
                stuck.cancel()
                await asyncio.gather(stuck, return_exceptions=True)
            finally:
                await client.aclose()
    assert found == {"anyio": httpx.PoolTimeout, "asyncio": httpx.PoolTimeout}


async def test_a_request_cancelled_while_queued_leaves_the_pool_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    opened, handler = counting_peer(0.3)
    async with peer(handler) as url:  # type: ignore[arg-type]
        client = build_client(timeout=5, max_connections=1, cookies=False)
        try:
            first = asyncio.create_task(client.get(url + "/first"))
            await asyncio.sleep(0.05)
            queued = asyncio.create_task(client.get(url + "/queued"))
            await asyncio.sleep(0.05)
            queued.cancel()
            await asyncio.gather(queued, return_exceptions=True)
            assert (await first).status_code == 200
            assert (await client.get(url + "/after")).status_code == 200
        finally:
            await client.aclose()
    assert opened[0] == 1
