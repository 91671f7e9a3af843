"""Fake fal.ai: queue (``/fal/queue``) and sync run (``/fal/run``); the platform API
(``/fal/api/v1``: listings and prices) is ``monitor.sim.fal_platform``.

A submitted request's life is fixed by the scenario's decision at submit time: it waits in
the queue (``queue`` latency, ``queue_position`` counting down from ``queue_depth``), runs
(``inference``), then is COMPLETED. Status answers 202 until then and 200 after, and always
carry ``queue_position`` and ``logs`` (fal-client's ``_parse_status`` requires both keys).
Returned URLs point back at this simulator. Errors use fal's envelopes: infrastructure
``{"detail", "error_type"}`` + ``X-Fal-Error-Type``; validation ``{"detail": [{loc, msg,
type}]}`` with 422 (``content_policy_violation`` for a safety block).

Under load the queue holds a request rather than refusing it: fal's queue waits out a
concurrency limit itself (https://docs.fal.ai/model-apis/model-endpoints/reliability), so a
rate-limit decision adds ``retry_after_s`` to the queue wait; only the sync run answers 429.
``X-Fal-Request-Timeout`` is honoured: a request not started by then completes with
``request_timeout`` and its result is a 504 with ``X-Fal-Request-Timeout-Type: user``.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim import models
from monitor.sim._common import Sim, apply_transport_fault, wait
from monitor.sim.files import data_uri
from monitor.sim.images import size_for_aspect
from monitor.sim.scenario import Decision, Fault

FAKE = "fal"
#: endpoint id -> listed USD per image
ENDPOINTS = {
    "fal-ai/imagen4/preview/fast": "0.02",
    "fal-ai/imagen4/preview": "0.04",
    "fal-ai/imagen4/preview/ultra": "0.06",
    **models.FAL,
}
MAX_JOBS = 10_000
_ASPECTS = ("1:1", "16:9", "9:16", "3:4", "4:3")
#: the infrastructure error type fal reports for each status (request-errors docs)
_ERROR_TYPES = {503: "runner_scheduling_failure", 504: "request_timeout"}


@dataclass
class _Request:
    id: str
    endpoint: str
    key: str | None
    decision: Decision
    args: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    cancelled_at: float | None = None
    images: list[dict[str, Any]] | None = None
    #: extra queue wait: the queue held the request out of a concurrency limit
    held: float = 0.0
    #: ``X-Fal-Request-Timeout``: seconds the request may wait to start
    start_by: float | None = None

    @property
    def started(self) -> float:
        return self.created + self.held + self.decision.latency.get("queue", 0.0)

    @property
    def timed_out(self) -> bool:
        """Not started within its start deadline: it never runs (and is not billed)."""
        return self.start_by is not None and self.started > self.created + self.start_by

    @property
    def done(self) -> float:
        if self.timed_out:
            assert self.start_by is not None
            return self.created + self.start_by
        return self.started + self.decision.latency.get("inference", 0.0)

    def stage(self, now: float) -> str:
        if self.cancelled_at is not None or now >= self.done:
            return "COMPLETED"
        return "IN_QUEUE" if now < self.started else "IN_PROGRESS"

    def position(self, now: float) -> int:
        queued = self.started - self.created
        left = (self.started - now) / queued if queued > 0 else 0.0
        return max(0, round(self.decision.queue_depth * left))


def error_answer(status: int, detail: Any, error_type: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    headers = {}
    if error_type:
        body["error_type"] = error_type
        headers["X-Fal-Error-Type"] = error_type
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid(field_name: str, message: str, kind: str) -> JSONResponse:
    return error_answer(422, [{"loc": ["body", field_name], "msg": message, "type": kind}])


def caller_key(sim: Sim, request: Request) -> str | JSONResponse | None:
    """The caller's key; None for no key (public models allow it); a 401 for a bad one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "key" or not sim.state.key_ok(FAKE, key.strip()):
        return error_answer(401, "Authentication failed: the key is invalid or malformed")
    return key.strip()


def _validate(body: Any) -> JSONResponse | dict[str, Any]:
    if not isinstance(body, dict):
        return _invalid("body", "Input should be a valid object", "model_attributes_type")
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return _invalid("prompt", "Field required", "missing")
    if body.get("aspect_ratio", "1:1") not in _ASPECTS:
        return _invalid(
            "aspect_ratio", f"Input should be one of {', '.join(_ASPECTS)}", "literal_error"
        )
    n = body.get("num_images", 1)
    if not isinstance(n, int) or not 1 <= n <= 4:
        return _invalid("num_images", "Input should be between 1 and 4", "less_than_equal")
    if body.get("resolution", "1K") not in ("1K", "2K"):
        return _invalid("resolution", "Input should be '1K' or '2K'", "literal_error")
    # output_format is UNCONFIRMED for imagen4: accepted, png by default
    if body.get("output_format", "png") not in ("png", "jpeg", "webp"):
        return _invalid("output_format", "Input should be png, jpeg or webp", "literal_error")
    return body


def _failure(decision: Decision) -> JSONResponse | None:
    """A failed run as fal reports it when the result is read (or the sync call returns)."""
    if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
        status = decision.status
        error_type = _ERROR_TYPES.get(status, "runner_server_error")  # 5xx name UNCONFIRMED
        return error_answer(status, "The request failed on the model runner", error_type)
    if decision.fault == Fault.SAFETY:
        return error_answer(
            422,
            [
                {
                    "loc": ["body", "prompt"],
                    "type": "content_policy_violation",
                    "msg": "The prompt or the image was flagged by the content checker.",
                    "url": "https://docs.fal.ai/errors#content_policy_violation",
                }
            ],
        )
    return None


def _timed_out() -> JSONResponse:
    """A request whose start deadline passed (fal-client's ``_should_retry_response``
    honours ``X-Fal-Request-Timeout-Type`` on a 504 as the user's own timeout)."""
    response = error_answer(504, "Request timed out", "request_timeout")
    response.headers["X-Fal-Request-Timeout-Type"] = "user"
    return response


def _result(sim: Sim, request: Request, job: _Request) -> dict[str, Any]:
    if job.images is None:
        width, height = size_for_aspect(job.args.get("aspect_ratio"), job.args.get("resolution"))
        fmt = job.args.get("output_format", "png")
        inline = sim.state.behaviour(FAKE, job.endpoint).output == "data_uri"
        job.images = [
            {
                "url": data_uri(width, height, fmt)
                if inline
                else sim.file_url(request, width, height, fmt),
                "content_type": f"image/{fmt}",
                "file_name": f"output_{i}.{fmt}",
                "width": width,
                "height": height,
            }
            for i in range(job.args.get("num_images", 1))
        ]
    return {"images": job.images, "seed": 42, "description": ""}


def routes(sim: Sim) -> list[Route]:
    jobs: OrderedDict[str, _Request] = OrderedDict()

    def urls(request: Request, job: _Request) -> dict[str, str]:
        owner, app = job.endpoint.split("/")[:2]  # no subpath, as fal answers
        base = str(request.url_for("fal_result", owner=owner, app=app, request_id=job.id))
        return {
            "request_id": job.id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    async def admit(request: Request, *, queued: bool) -> Response | _Request:
        """Auth, body and the scenario's decision: what submit and sync run share."""
        key = caller_key(sim, request)
        if isinstance(key, JSONResponse):
            return key
        endpoint = request.path_params["endpoint_id"]
        if endpoint not in ENDPOINTS:
            return error_answer(404, f"Application '{endpoint}' not found")
        if sim.state.behaviour(FAKE, endpoint).account == "exhausted":
            # the answer quoted in https://github.com/fal-ai/fal/issues/1112
            return error_answer(
                403,
                "User is locked. Reason: Exhausted balance. "
                "Top up your balance at fal.ai/dashboard/billing.",
            )
        try:
            args = _validate(await request.json())
        except ValueError:
            return _invalid("body", "JSON decode error", "json_invalid")
        if isinstance(args, JSONResponse):
            return args
        decision = sim.state.decide(FAKE, endpoint)
        await wait(decision.latency.get("ttfb", 0.0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:  # how fal answers a retired app is UNCONFIRMED
            return error_answer(404, f"Application '{endpoint}' not found")
        job = _Request(str(uuid.uuid4()), endpoint, key, decision, args)
        if decision.fault == Fault.RATE_LIMITED:
            if not queued:  # the sync run is never retried or held
                return error_answer(429, "Concurrent request limit reached for this account")
            job.held = float(decision.retry_after_s)
        try:
            job.start_by = float(request.headers.get("x-fal-request-timeout", ""))
        except ValueError:
            job.start_by = None
        return job

    async def submit(request: Request) -> Response:
        job = await admit(request, queued=True)
        if isinstance(job, Response):
            return job
        jobs[job.id] = job
        while len(jobs) > MAX_JOBS:
            jobs.popitem(last=False)
        return JSONResponse(
            {
                **urls(request, job),
                "status": "IN_QUEUE",
                "logs": None,
                "queue_position": job.decision.queue_depth,
                "metrics": {},
            },
            headers={"x-fal-request-id": job.id},
        )

    async def run(request: Request) -> Response:
        job = await admit(request, queued=False)
        if isinstance(job, Response):
            return job
        await wait(job.done - time.monotonic())
        if job.timed_out:
            return _timed_out()
        failed = _failure(job.decision)
        return failed or JSONResponse(
            _result(sim, request, job), headers={"x-fal-request-id": job.id}
        )

    def find(request: Request) -> Response | _Request:
        key = caller_key(sim, request)
        if isinstance(key, JSONResponse):
            return key
        job = jobs.get(request.path_params["request_id"])
        owner_app = f"{request.path_params['owner']}/{request.path_params['app']}/"
        # an endpoint without a subpath (owner/app) is its own owner/app
        if job is None or not f"{job.endpoint}/".startswith(owner_app):
            return JSONResponse({"status": "NOT_FOUND", "detail": "Request not found"}, 404)
        if job.key is not None and key != job.key:  # only its submitter may see a request
            return error_answer(403, "Not allowed to access this request")
        if sim.state.behaviour(FAKE, job.endpoint).lost_job:
            return JSONResponse({"status": "NOT_FOUND", "detail": "Request not found"}, 404)
        return job

    async def status(request: Request) -> Response:
        job = find(request)
        if isinstance(job, Response):
            return job
        now = time.monotonic()
        stage = job.stage(now)
        with_logs = request.query_params.get("logs", "0").lower() in ("1", "true")
        logs = [
            {
                "message": "Generating image",
                "level": "INFO",
                "source": "user",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        ]
        body: dict[str, Any] = {
            "status": stage,
            **urls(request, job),
            "queue_position": job.position(now) if stage == "IN_QUEUE" else None,
            "logs": logs if with_logs and stage != "IN_QUEUE" else None,
        }
        if stage != "COMPLETED":
            return JSONResponse(body, status_code=202)
        if job.cancelled_at is not None:
            # how a cancelled request reads back is UNCONFIRMED; fal-client only knows
            # IN_QUEUE / IN_PROGRESS / COMPLETED, so it completes with an error
            body.update(metrics={}, error="Request was cancelled", error_type="request_cancelled")
            return JSONResponse(body)
        if job.timed_out:
            body.update(metrics={}, error="Request timed out", error_type="request_timeout")
            return JSONResponse(body)
        body["metrics"] = {"inference_time": round(job.decision.latency.get("inference", 0), 3)}
        if job.decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            failed = _failure(job.decision)
            assert failed is not None
            body.update(
                error="The request failed on the model runner",
                error_type=failed.headers["x-fal-error-type"],
            )
        return JSONResponse(body)

    async def result(request: Request) -> Response:
        job = find(request)
        if isinstance(job, Response):
            return job
        if job.stage(time.monotonic()) != "COMPLETED":
            return error_answer(400, "Request is still in progress")
        if job.cancelled_at is not None:
            return error_answer(400, "Request was cancelled", "request_cancelled")
        if job.timed_out:
            return _timed_out()
        return _failure(job.decision) or JSONResponse(_result(sim, request, job))

    async def cancel(request: Request) -> Response:
        job = find(request)
        if isinstance(job, Response):
            return job
        if job.stage(time.monotonic()) == "COMPLETED":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
        # queued: removed; running: fal signals the runner (imagen4 stopping is UNCONFIRMED)
        job.cancelled_at = time.monotonic()
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    requests = "/fal/queue/{owner}/{app}/requests/{request_id}"
    return [
        Route(f"{requests}/status", status, methods=["GET"]),
        Route(f"{requests}/cancel", cancel, methods=["PUT"]),
        Route(requests, result, methods=["GET"], name="fal_result"),
        Route("/fal/queue/{endpoint_id:path}", submit, methods=["POST"]),
        Route("/fal/run/{endpoint_id:path}", run, methods=["POST"]),
    ]
