"""Passive samples: outcomes and latencies of a gateway's real traffic, fed to the health
engine beside the probes so that real traffic confirms (or replaces) paid probes.

``POST /api/samples`` takes a JSON batch ``{"samples": [{"offering", "outcome",
"latency_s", "at", "vantage"?}, ...]}`` with ``Authorization: Bearer <token>``; the token
is read from the environment variable the config names, and the endpoint answers 503
while none is set. A batch is taken whole or refused whole (422, one problem per bad
sample, each naming its index), so a gateway can retry it without counting samples twice.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Collection
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from monitor.health import Sample
from monitor.interfaces import Outcome

#: samples per request; a gateway batches every few seconds, not its whole history
MAX_BATCH = 1000
#: samples older than this say nothing about now (and would reorder the state machine)
MAX_AGE_S = 3600.0
#: clocks of gateways drift: allow samples slightly in the future
MAX_SKEW_S = 60.0

Observe = Callable[[str, str, Sample], object]


class PassiveSample(BaseModel):
    """One real request of a gateway to one offering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offering: Annotated[str, Field(min_length=3, max_length=200)]
    outcome: Outcome
    latency_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    at: AwareDatetime
    vantage: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)] | None = None


class PassiveBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: Annotated[list[PassiveSample], Field(min_length=1, max_length=MAX_BATCH)]


def check_batch(
    batch: PassiveBatch,
    *,
    offerings: Collection[str],
    vantages: Collection[str],
    now: dt.datetime,
    max_age_s: float = MAX_AGE_S,
    max_skew_s: float = MAX_SKEW_S,
) -> list[str]:
    """Problems that make the batch unusable, one per bad field; empty when it is fine.

    Offerings and vantages must be configured ones: they become metric labels, which never
    come from free text.
    """
    problems = []
    for index, sample in enumerate(batch.samples):
        where = f"samples.{index}"
        if sample.offering not in offerings:
            problems.append(f"{where}.offering: unknown offering {sample.offering!r}")
        if sample.vantage is not None and sample.vantage not in vantages:
            problems.append(f"{where}.vantage: unknown vantage {sample.vantage!r}")
        age = (now - sample.at).total_seconds()
        if age > max_age_s:
            problems.append(f"{where}.at: older than {max_age_s:.0f}s")
        elif age < -max_skew_s:
            problems.append(f"{where}.at: more than {max_skew_s:.0f}s in the future")
    return problems


def to_samples(batch: PassiveBatch, default_vantage: str) -> list[tuple[str, str, Sample]]:
    """(offering, vantage, engine sample) in time order, the order the engine needs."""
    ordered = sorted(batch.samples, key=lambda s: s.at)
    return [
        (
            s.offering,
            s.vantage or default_vantage,
            Sample(outcome=s.outcome, at=s.at, latency_s=s.latency_s, kind="passive"),
        )
        for s in ordered
    ]


def feed(observe: Observe, batch: PassiveBatch, default_vantage: str) -> int:
    """Give every sample of a checked batch to ``observe`` (``HealthBook.observe``)."""
    samples = to_samples(batch, default_vantage)
    for offering, vantage, sample in samples:
        observe(offering, vantage, sample)
    return len(samples)


def authorised(header: str | None, token: str) -> bool:
    """Constant-time comparison of a ``Bearer`` header with the configured token."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def passive_router(
    *,
    observe: Observe,
    offerings: Collection[str],
    token: str | None,
    default_vantage: str,
    vantages: Collection[str] = (),
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> APIRouter:
    """The ``POST /api/samples`` endpoint, to ``app.include_router(...)``.

    ``observe`` is called on the event loop (the endpoint is ``async``), the thread the
    runner's result sinks use, so the health book needs no lock. ``token=None`` disables
    the endpoint (503) rather than leaving it open.
    """
    router = APIRouter()
    allowed_vantages = {default_vantage, *vantages}

    @router.post("/api/samples", status_code=202)
    async def samples(
        batch: PassiveBatch, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        if token is None:
            raise HTTPException(503, "passive samples are disabled: no token is configured")
        if not authorised(authorization, token):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        problems = check_batch(batch, offerings=offerings, vantages=allowed_vantages, now=now())
        if problems:
            raise HTTPException(422, problems)
        return {"accepted": feed(observe, batch, default_vantage)}

    return router
