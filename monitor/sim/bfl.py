"""Fake Black Forest Labs API under ``/bfl`` (api.bfl.ai), polled on ``/bfl-eu`` (a regional
host such as api.eu.bfl.ai: the polling URL the submit returns is on that prefix).

``POST /bfl/v1/{endpoint}`` with ``x-key`` answers ``{id, polling_url, cost, input_mp,
output_mp}`` (``cost`` in credits; BFL's OpenAPI ``AsyncResponse``). ``GET
/bfl-eu/v1/get_result?id=`` answers ``{id, status, result, progress}``: ``Pending`` (progress
null while queued, a fraction while running), then ``Ready`` with ``result.sample`` (a URL on
``/files``, fetched without the key), or ``Content Moderated`` (the safety fault), ``Error``
(error_ratio), ``Request Moderated`` / ``Failed`` (behaviour variants
``request_moderated`` / ``failed``). ``GET /bfl/v1/credits`` answers ``{"credits": n}``.
Errors (https://github.com/black-forest-labs/skills ``bfl-api`` references): 401 ``{"detail":
"Not authenticated"}``, 402 no credits (variant ``credits``), 404 unknown endpoint, 422
FastAPI validation ``{"detail": [{loc, msg, type}]}``, 429 ``{"error":
"rate_limit_exceeded", "message", "retry_after"}`` with ``Retry-After``, 5xx on an outage.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim import models
from monitor.sim._common import Sim, apply_transport_fault, wait
from monitor.sim.scenario import Decision, Fault

FAKE = "bfl"
MAX_JOBS = 10_000
_FORMATS = {"jpeg", "png"}


@dataclass
class _Job:
    id: str
    model: str
    decision: Decision
    variant: str | None
    args: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    sample: str | None = None

    @property
    def started(self) -> float:
        return self.created + self.decision.latency.get("queue", 0.0)

    @property
    def done(self) -> float:
        return self.started + self.decision.latency.get("inference", 0.0)


def _validation(field_name: str, message: str) -> JSONResponse:
    detail = [{"loc": ["body", field_name], "msg": message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def _check(body: Any) -> tuple[JSONResponse | None, dict[str, Any]]:
    if not isinstance(body, dict):
        return _validation("body", "Input should be a valid dictionary"), {}
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _validation("prompt", "Field required"), {}
    width, height = body.get("width", 1024), body.get("height", 1024)
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 64 or value % 16:
            return _validation(name, "must be a multiple of 16 and at least 64"), {}
    if width * height > 4 * 1024 * 1024:
        return _validation("width", "width x height must be at most 4 megapixels"), {}
    fmt = body.get("output_format", "jpeg")
    if fmt not in _FORMATS:
        return _validation("output_format", "Input should be 'jpeg' or 'png'"), {}
    return None, {"width": width, "height": height, "fmt": fmt, "prompt": prompt}


def _credits(model: str, width: int, height: int) -> tuple[float, float]:
    """(credits, output megapixels): the first megapixel at the model's rate, then per MP
    at the same rate (a simplification of BFL's extra-megapixel rate)."""
    megapixels = Decimal(width * height) / Decimal(1_000_000)
    rate = models.BFL[model].usd_per_megapixel
    usd = rate * max(Decimal(1), megapixels)
    return float((usd / Decimal("0.01")).quantize(Decimal("0.01"))), float(round(megapixels, 2))


def routes(sim: Sim) -> list[Route]:
    jobs: OrderedDict[str, _Job] = OrderedDict()

    def denied(request: Request) -> JSONResponse | None:
        key = request.headers.get("x-key")
        if not key:
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        if not sim.state.key_ok(FAKE, key):
            return JSONResponse({"detail": "Invalid API key"}, status_code=401)
        return None

    async def submit(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        model = request.path_params["model"]
        if model not in models.BFL:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        try:
            body = await request.json()
        except ValueError:
            return _validation("body", "JSON decode error")
        invalid, args = _check(body)
        if invalid:
            return invalid
        behaviour = sim.state.behaviour(FAKE, model)
        if behaviour.variant == "credits":
            return JSONResponse({"detail": "Insufficient credits"}, status_code=402)
        decision = sim.state.decide(FAKE, model)
        await wait(decision.latency.get("ttfb", 0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if decision.fault == Fault.RATE_LIMITED:
            retry = decision.retry_after_s
            return JSONResponse(
                {
                    "error": "rate_limit_exceeded",
                    "message": "Too many concurrent requests",
                    "retry_after": retry,
                },
                status_code=429,
                headers={"retry-after": str(retry)},
            )
        if behaviour.outage is not None and decision.fault != Fault.NONE:
            return JSONResponse({"detail": "Internal Server Error"}, status_code=decision.status)
        job = _Job(
            id=str(uuid.uuid4()),
            model=model,
            decision=decision,
            variant=behaviour.variant,
            args=args,
        )
        jobs[job.id] = job
        while len(jobs) > MAX_JOBS:
            jobs.popitem(last=False)
        credits, megapixels = _credits(model, args["width"], args["height"])
        polling = request.url_for("bfl_result_eu").include_query_params(id=job.id)
        return JSONResponse(
            {
                "id": job.id,
                "polling_url": str(polling),
                "cost": credits,
                "input_mp": 0.0,
                "output_mp": megapixels,
            }
        )

    async def result(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        job_id = request.query_params.get("id", "")
        job = jobs.get(job_id)
        if job is None:
            return JSONResponse({"id": job_id, "status": "Task not found"}, status_code=404)
        now = time.monotonic()
        if now < job.done:
            running = now >= job.started
            span = max(job.done - job.started, 1e-9)
            progress = round((now - job.started) / span, 2) if running else None
            return JSONResponse(
                {"id": job.id, "status": "Pending", "result": None, "progress": progress}
            )
        answer: dict[str, Any] = {"id": job.id, "result": None, "progress": None}
        if job.decision.fault == Fault.SAFETY:
            answer["status"] = "Content Moderated"
            # UNCONFIRMED shape: a third-party BFL client reads details["Moderation Reasons"]
            answer["details"] = {"Moderation Reasons": ["Derivative Works Filter"]}
        elif job.variant == "request_moderated":
            answer["status"] = "Request Moderated"
        elif job.variant == "failed":
            answer["status"] = "Failed"
        elif job.decision.fault == Fault.SERVER_ERROR:
            answer["status"] = "Error"
        else:
            if job.sample is None:
                args = job.args
                job.sample = sim.file_url(request, args["width"], args["height"], args["fmt"])
            answer["status"] = "Ready"
            prompt = job.args["prompt"]
            answer["result"] = {"sample": job.sample, "prompt": prompt, "seed": 1234567890}
        return JSONResponse(answer)

    async def credits(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        spent = any(sim.state.behaviour(FAKE, m).variant == "credits" for m in models.BFL)
        return JSONResponse({"credits": 0.0 if spent else 1250.0})

    return [
        Route("/bfl/v1/credits", credits, methods=["GET"]),
        Route("/bfl/v1/get_result", result, methods=["GET"], name="bfl_result"),
        Route("/bfl-eu/v1/get_result", result, methods=["GET"], name="bfl_result_eu"),
        Route("/bfl/v1/{model}", submit, methods=["POST"]),
    ]
