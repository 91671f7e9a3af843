"""Passive samples: outcomes and latencies of a gateway's real traffic, fed to the health
engine beside the probes so that real traffic confirms (or replaces) paid probes.

``POST /api/samples`` takes a JSON batch ``{"samples": [{"offering", "outcome",
"latency_s", "at", "vantage"?}, ...]}`` with ``Authorization: Bearer <token>``; the token
is read from the environment variable the config names, and the endpoint answers 503
while none is set. A batch is taken whole or refused whole (422, one problem per bad
sample, each naming its index), so a gateway can retry it without counting samples twice.

Whoever holds the token can claim anything, so nothing is parsed before the token is
checked, the body is capped, errors never echo input, and the health engine weighs the
samples by distinct minute and has a probe confirm them (:func:`monitor.health.step_passive`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable, Collection
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from monitor.health import Sample
from monitor.interfaces import Outcome

#: samples per request; a gateway batches every few seconds, not its whole history
MAX_BATCH = 1000
#: samples older than this say nothing about now (and would reorder the state machine)
MAX_AGE_S = 3600.0
#: clocks of gateways drift: allow samples slightly in the future
MAX_SKEW_S = 60.0
#: a full batch is ~200 kB; the body is read no further than this
MAX_BODY_BYTES = 512 * 1024
#: problems listed in one 422 answer
MAX_PROBLEMS = 20

Observe = Callable[[str, str, Sample], object]


class PassiveSample(BaseModel):
    """One real request of a gateway to one offering."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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
            problems.append(f"{where}.offering: unknown offering")  # never echo input
        if sample.vantage is not None and sample.vantage not in vantages:
            problems.append(f"{where}.vantage: unknown vantage")
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


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _body_schema() -> dict[str, Any]:
    """The batch's JSON Schema for ``/openapi.json`` (the endpoint reads its body itself,
    after the token check, so FastAPI cannot derive it)."""
    schema = PassiveBatch.model_json_schema()
    defs = schema.pop("$defs", {})
    body = {"required": True, "content": {"application/json": {"schema": _inline(schema, defs)}}}
    return {"requestBody": body}


_BODY_SCHEMA = _body_schema()


def _problem(item: Any) -> str:
    # location and message only: pydantic's ``input`` would echo the body back
    where = ".".join(str(part) for part in item["loc"])
    return f"{where}: {item['msg']}" if where else str(item["msg"])


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def parse_body(body: bytes) -> PassiveBatch | list[str]:
    """A batch, or the problems with the body (bounded, never echoing it)."""
    try:
        # NaN and Infinity are not JSON (RFC 8259 section 6); Python's parser takes them
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return ["body: not a JSON document of finite numbers"]
    try:
        return PassiveBatch.model_validate(data)
    except ValidationError as exc:
        return [_problem(item) for item in exc.errors(include_url=False)]


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _error(status: int, detail: str | list[str], **headers: str) -> JSONResponse:
    if isinstance(detail, list) and len(detail) > MAX_PROBLEMS:
        detail = [*detail[:MAX_PROBLEMS], f"and {len(detail) - MAX_PROBLEMS} more problems"]
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def passive_router(
    *,
    observe: Observe,
    offerings: Collection[str],
    token: str | None,
    default_vantage: str,
    vantages: Collection[str] = (),
    token_env: str | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> APIRouter:
    """The ``POST /api/samples`` endpoint, to ``app.include_router(...)``.

    In this order, so nothing is parsed for a caller without the token: 503 while no token
    is configured (naming the variable ``token_env`` to set), 401 without the right bearer
    token (before the body is read), 413 for a body over :data:`MAX_BODY_BYTES`, 422 for
    anything but a valid batch (non-finite numbers included; errors never echo the input),
    202 with the count taken.

    ``observe`` is called on the event loop (the endpoint is ``async``), the thread the
    runner's result sinks use, so the health book needs no lock.
    """
    router = APIRouter()
    allowed_vantages = {default_vantage, *vantages}
    disabled = "passive samples are disabled: " + (
        f"set the environment variable {token_env} to a token"
        if token_env
        else "set passive.token_env in the config (or PROVMON_PASSIVE_TOKEN)"
    )

    @router.post("/api/samples", status_code=202, response_model=None, openapi_extra=_BODY_SCHEMA)
    async def samples(request: Request) -> JSONResponse:
        """Take a batch ``{"samples": [...]}`` of a gateway's real results (see module)."""
        if token is None:
            return _error(503, disabled)
        if not authorised(request.headers.get("authorization"), token):
            return _error(401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"})
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        batch = parse_body(body)
        if isinstance(batch, list):
            return _error(422, batch)
        problems = check_batch(batch, offerings=offerings, vantages=allowed_vantages, now=now())
        if problems:
            return _error(422, problems)
        return JSONResponse({"accepted": feed(observe, batch, default_vantage)}, status_code=202)

    return router
