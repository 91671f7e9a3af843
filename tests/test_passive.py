"""Passive samples: validation, feeding the engine, and the endpoint over a real socket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from monitor.health import HealthBook, State
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
    assert problems == [
        "samples.1.offering: unknown offering 'x/y'",
        "samples.2.at: older than 3600s",
        "samples.3.at: more than 60s in the future",
        "samples.4.vantage: unknown vantage 'mars'",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"samples": []},
        {"samples": [sample(outcome="exploded")]},
        {"samples": [sample(latency_s=-1)]},
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
    batch = PassiveBatch.model_validate({"samples": [sample(n) for n in (1, 4, 3, 2)]})
    assert feed(book.observe, batch, "local") == 4
    state = book.get(FAL, "local")
    assert state.state == State.DOWN and state.generate.state == State.DOWN
    assert state.last_passive_at == NOW - dt.timedelta(seconds=1)


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
    body = {"samples": [sample(n) for n in range(4)]}
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
            observe=HealthBook().observe, offerings={FAL}, token=None, default_vantage="local"
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
