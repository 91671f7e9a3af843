"""Passive samples: validation, feeding the engine, and the endpoint over a real socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from monitor.health import HealthBook, Sample, State
from monitor.interfaces import Outcome
from monitor.passive import MAX_BATCH, PassiveBatch, check_batch, feed, passive_router
from monitor.servers import Server

FAL = "fal/imagen-4.0-generate-001"
NOW = dt.datetime.now(dt.UTC)
TOKEN = "s3cret-token"


def sample(offset_s: float = 0, **kw: object) -> dict[str, object]:
    return {
        "offering": FAL,
        "outcome": "server_error",
        "latency_s": 1.5,
        "at": (NOW - dt.timedelta(seconds=offset_s)).isoformat(),
        **kw,
    }


def test_a_batch_is_checked_against_the_config() -> None:
    batch = PassiveBatch.model_validate(
        {
            "samples": [
                sample(),
                sample(offering="x/y"),
                sample(7200),
                sample(-600),
                sample(vantage="mars"),
            ]
        }
    )
    problems = check_batch(batch, offerings={FAL}, vantages={"local"}, now=NOW)
    assert problems == [  # naming the field, never echoing what was sent
        "samples.1.offering: unknown offering",
        "samples.2.at: older than 3600s",
        "samples.3.at: more than 60s in the future",
        "samples.4.vantage: unknown vantage",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"samples": []},
        {"samples": [sample(outcome="exploded")]},
        {"samples": [sample(latency_s=-1)]},
        {"samples": [sample(latency_s=float("nan"))]},
        {"samples": [sample(latency_s=float("inf"))]},
        {"samples": [sample(at="2026-11-23T12:00:00")]},  # no zone
        {"samples": [sample(extra=1)]},
        {"samples": [sample()] * (MAX_BATCH + 1)},
    ],
)
def test_malformed_batches_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PassiveBatch.model_validate(body)


def test_samples_feed_the_generate_tier_in_time_order() -> None:
    book = HealthBook()
    minutes = [sample(60 * n) for n in (1, 4, 3, 2)]
    batch = PassiveBatch.model_validate({"samples": minutes})
    assert feed(book.observe, batch, "local") == 4
    state = book.get(FAL, "local")
    assert state.state == State.DOWN and state.generate.state == State.DOWN
    assert state.passive_down and "passive samples" in state.reason
    assert state.last_passive_at == NOW - dt.timedelta(seconds=60)


def test_a_batch_is_weighed_by_distinct_minutes_not_by_count() -> None:
    book = HealthBook()
    book.observe(FAL, "local", Sample(outcome=Outcome.OK, at=NOW - dt.timedelta(minutes=5)))
    batch = PassiveBatch.model_validate({"samples": [sample(0)] * MAX_BATCH})
    feed(book.observe, batch, "local")
    state = book.get(FAL, "local")
    # one minute of claims: suspicion (a confirmation probe), never an outage
    assert state.state == State.UP and state.passive_suspect
    assert state.passive_failed_minutes == (int(NOW.timestamp() // 60),)
    assert state.consecutive_failures == 0


def test_a_successful_probe_after_passive_failures_wins() -> None:
    book = HealthBook()
    batch = PassiveBatch.model_validate({"samples": [sample(60 * n + 30) for n in range(5)]})
    feed(book.observe, batch, "local")
    assert book.get(FAL, "local").state == State.DOWN
    probe = Sample(outcome=Outcome.OK, at=NOW, latency_s=3.0, kind="generate")
    state = book.observe(FAL, "local", probe)
    assert state.state == State.UP and not state.passive_down and not state.passive_suspect


def test_successes_count_once_a_minute_and_gateway_429s_are_ignored() -> None:
    book = HealthBook()
    for n in range(4):  # a real paid outage
        at = NOW - dt.timedelta(minutes=10 - n)
        book.observe(FAL, "local", Sample(outcome=Outcome.SERVER_ERROR, at=at))
    assert book.get(FAL, "local").state == State.DOWN
    same_minute = PassiveBatch.model_validate(
        {"samples": [sample(0, outcome="ok")] * 50 + [sample(0, outcome="rate_limited")] * 50}
    )
    feed(book.observe, same_minute, "local")
    state = book.get(FAL, "local")
    assert state.state == State.DOWN and state.generate.successes == 1
    assert state.consecutive_rate_limited == 0


@pytest.fixture()
async def served() -> AsyncIterator[tuple[str, HealthBook]]:
    book = HealthBook()
    app = FastAPI()
    app.include_router(
        passive_router(observe=book.observe, offerings={FAL}, token=TOKEN, default_vantage="local")
    )
    server = Server(app, "127.0.0.1", 0)
    await server.start()
    yield server.url, book
    await server.stop()


async def test_the_endpoint_takes_an_authenticated_batch(
    served: tuple[str, HealthBook],
) -> None:
    url, book = served
    body = {"samples": [sample(60 * n) for n in range(4)]}
    async with httpx.AsyncClient(base_url=url) as client:
        denied = await client.post("/api/samples", json=body)
        wrong = await client.post(
            "/api/samples", json=body, headers={"Authorization": "Bearer nope"}
        )
        bad = await client.post(
            "/api/samples",
            json={"samples": [sample(offering="a/b")]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        ok = await client.post(
            "/api/samples", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert denied.status_code == 401 and wrong.status_code == 401
    assert bad.status_code == 422 and "unknown offering" in bad.text
    assert ok.status_code == 202 and ok.json() == {"accepted": 4}
    assert book.get(FAL, "local").state == State.DOWN


async def test_without_a_token_the_endpoint_is_disabled() -> None:
    app = FastAPI()
    app.include_router(
        passive_router(
            observe=HealthBook().observe,
            offerings={FAL},
            token=None,
            token_env="PROVMON_PASSIVE_TOKEN",
            default_vantage="local",
        )
    )
    server = Server(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post(
                "/api/samples",
                json={"samples": [sample()]},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
    finally:
        await server.stop()
    assert response.status_code == 503
    assert "set the environment variable PROVMON_PASSIVE_TOKEN" in response.text


def raw_post(url: str, headers: dict[str, str], declared: int, prefix: bytes) -> tuple[int, bytes]:
    """POST declaring ``declared`` body bytes but sending only ``prefix``: an answer at all
    proves the server decided without reading the body."""
    host, port = url.removeprefix("http://").split(":")
    head = ["POST /api/samples HTTP/1.1", f"Host: {host}", f"Content-Length: {declared}"]
    head += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + prefix)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        status = int(data.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: (\d+)", data).group(1))  # type: ignore[union-attr]
        body = data.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += sock.recv(65536)
    return status, body


async def test_the_token_is_checked_before_the_body_is_read(
    served: tuple[str, HealthBook],
) -> None:
    url, book = served
    big = 60 * 1024 * 1024
    prefix = b'{"samples": [' + b"9" * 1000
    denied = await asyncio.to_thread(raw_post, url, {}, big, prefix)
    assert denied[0] == 401 and len(denied[1]) < 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    too_big = await asyncio.to_thread(raw_post, url, auth, big, prefix)
    assert too_big[0] == 413 and len(too_big[1]) < 200
    assert book.states == {}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused_without_echo(
    served: tuple[str, HealthBook], number: str
) -> None:
    url, book = served
    text = json.dumps({"samples": [sample(0)]}).replace("1.5", number)
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/samples",
            content=text,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert number not in response.text and FAL not in response.text
    assert book.states == {}


async def test_a_streamed_body_over_the_cap_is_cut_off(served: tuple[str, HealthBook]) -> None:
    url, book = served

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 x 64 kB, no Content-Length (chunked)
            yield b" " * 65536

    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/samples", content=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 413 and len(response.content) < 200
    assert book.states == {}


async def test_a_disabled_endpoint_answers_before_reading_the_body() -> None:
    app = FastAPI()
    app.include_router(
        passive_router(
            observe=HealthBook().observe, offerings={FAL}, token=None, default_vantage="local"
        )
    )
    server = Server(app, "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await asyncio.to_thread(raw_post, server.url, {}, 60 * 2**20, b"[[[[")
    finally:
        await server.stop()
    assert status == 503 and len(body) < 300 and b"[[[[" not in body


def test_control_successes_do_not_wash_out_passive_generation_failures() -> None:
    book = HealthBook()
    for n in range(3):  # a generation-only outage: control keeps answering between samples
        at = NOW - dt.timedelta(minutes=5 - n)
        book.observe(FAL, "local", Sample(outcome=Outcome.OK, at=at, kind="control"))
        failure = Sample(outcome=Outcome.SERVER_ERROR, at=at, kind="passive")
        book.observe(FAL, "local", failure)
    state = book.get(FAL, "local")
    assert state.state == State.DOWN and state.control.state == State.UP
    assert state.reason.startswith("generate: passive samples failing in 3 distinct minutes")
