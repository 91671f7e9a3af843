"""Fake Replicate predictions API under ``/replicate/v1`` (official models, ``google/imagen-4*``).

A prediction's life is fixed by the scenario's decision at create time: ``starting`` for the
``queue`` latency, ``processing`` for ``inference``, then ``succeeded`` (``output`` is one
file URL) or ``failed`` (a safety block, or a model error for a 500 fault). ``Prefer:
wait=N`` holds the create request until the prediction is done or N seconds passed; one not
done by then is answered ``starting``, which is what makes rep-1.x ``run()`` poll.
``Cancel-After`` ends an unfinished prediction as ``aborted``. Errors are RFC 7807.
With ``output: data_uri`` a held create answers as the sync mode's example does: the
output inline while the status still says ``processing``
(https://replicate.com/changelog/2024-10-09-synchronous-api); a later get says succeeded.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import time
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

FAKE = "replicate"
MODELS = ("google/imagen-4-fast", "google/imagen-4", "google/imagen-4-ultra", *models.REPLICATE)
MAX_PREDICTIONS = 10_000
_INPUTS = {
    "aspect_ratio": ("1:1", "9:16", "16:9", "3:4", "4:3"),
    "output_format": ("jpg", "png"),
    "safety_filter_level": ("block_only_high", "block_medium_and_above", "block_low_and_above"),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"https://replicate.com/docs/errors#{status}",
            "title": title,
            "status": status,
            "detail": detail,
            **extra,
        },
        status_code=status,
        media_type="application/problem+json",
    )


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return (
        dt.datetime.fromtimestamp(wall, dt.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def _seconds(text: str | None) -> float | None:
    found = _DURATION.match(text or "")
    return float(found.group(1)) * _UNITS[found.group(2)] if found else None


@dataclass
class _Prediction:
    id: str
    model: str
    input: dict[str, Any]
    decision: Decision
    cancel_after: float | None = None
    created: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)
    cancelled_at: float | None = None
    output: str | None = None

    @property
    def started(self) -> float:
        return self.created + self.decision.latency.get("queue", 0.0)

    @property
    def done(self) -> float:
        return self.started + self.decision.latency.get("inference", 0.0)

    def end(self) -> tuple[float, str]:
        """When and how the prediction ends (or ended), as things stand."""
        ends = [(self.done, "succeeded" if self.decision.fault == Fault.NONE else "failed")]
        if self.cancelled_at is not None:
            ends.append((self.cancelled_at, "canceled"))
        if self.cancel_after is not None:
            ends.append((self.created + self.cancel_after, "aborted"))
        return min(ends)

    def ended(self) -> tuple[float, str] | None:
        """When and how the prediction ended, if it has by now."""
        end = self.end()
        return end if end[0] <= time.monotonic() else None

    def view(self, sim: Sim, request: Request) -> dict[str, Any]:
        ended = self.ended()
        now = time.monotonic()
        status = "starting" if now < self.started else "processing"
        end_at = None
        if ended is not None:
            end_at, status = ended
        started = (
            self.started
            if now >= self.started and (end_at is None or end_at >= self.started)
            else None
        )
        get = str(request.url_for("replicate_prediction", id=self.id))
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": "hidden",
            "input": self.input,
            "logs": "" if started is None else "Generating image...\n",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": status,
            "source": "api",
            "created_at": _iso(self.wall),
            "started_at": self._wall(started),
            "completed_at": self._wall(end_at),
            "metrics": {},
            "urls": {
                "get": get,
                "cancel": f"{get}/cancel",
                "web": f"https://replicate.com/p/{self.id}",
            },
        }
        if status == "succeeded":
            body["output"] = self.output = self.output or self._file(sim, request)
        if status == "failed":
            body["error"] = (
                "The input or output was flagged as sensitive by the safety filter. "
                "Please try again with a different prompt."
                if self.decision.fault == Fault.SAFETY
                else "Prediction failed: the model returned an internal error."
            )
        if status in ("succeeded", "failed"):
            predict = round(self.decision.latency.get("inference", 0.0), 3)
            body["metrics"] = {
                "predict_time": predict,
                "total_time": round(self.done - self.created, 3),
            }
        return body

    def _wall(self, at: float | None) -> str | None:
        return None if at is None else _iso(self.wall + (at - self.created))

    def _file(self, sim: Sim, request: Request) -> str:
        width, height = size_for_aspect(self.input.get("aspect_ratio"))
        fmt = self.input.get("output_format", "jpg")
        if sim.state.behaviour(FAKE, self.model).output == "data_uri":
            return data_uri(width, height, fmt)
        return sim.file_url(request, width, height, fmt)


def _new_id() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=")[:26]


def _validate(body: Any) -> JSONResponse | dict[str, Any]:
    given = body.get("input") if isinstance(body, dict) else None
    if not isinstance(given, dict):
        return _problem(422, "Invalid request", "- input: input is required")
    if not isinstance(given.get("prompt"), str) or not given["prompt"].strip():
        return _problem(
            422,
            "Input validation failed",
            "- input: prompt is required",
            invalid_fields=[
                {"type": "required", "field": "input.prompt", "description": "prompt is required"}
            ],
        )
    for name, allowed in _INPUTS.items():
        if name in given and given[name] not in allowed:
            detail = f"{name} must be one of the following: {', '.join(allowed)}"
            return _problem(
                422,
                "Input validation failed",
                f"- input.{name}: {detail}",
                invalid_fields=[{"type": "enum", "field": f"input.{name}", "description": detail}],
            )
    return given


def _wait_seconds(prefer: str | None) -> float:
    """``Prefer: wait`` is 60 s, ``wait=N`` is N (1 to 60); anything else does not wait."""
    found = re.fullmatch(r"\s*wait(?:\s*=\s*(\d+))?\s*", prefer or "")
    if not found:
        return 0.0
    return float(min(60, max(1, int(found.group(1) or 60))))


_VERSION = {
    "id": "5e1c9ef8b9c2d1f0a7e63b4c8d2f1a0e9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
    "created_at": "2025-06-01T00:00:00.000000Z",
    "cog_version": "0.16.0",
    "openapi_schema": {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string"},
                        **{name: {"enum": list(allowed)} for name, allowed in _INPUTS.items()},
                    },
                },
                "Output": {"type": "string", "format": "uri"},
            }
        }
    },
}


def _not_found() -> JSONResponse:
    return _problem(404, "Not found", "The requested resource could not be found.")


def routes(sim: Sim) -> list[Route]:
    predictions: OrderedDict[str, _Prediction] = OrderedDict()

    def denied(request: Request) -> JSONResponse | None:
        # ``Bearer`` is documented; the legacy ``Token`` scheme is still accepted
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token:
            return _problem(401, "Unauthenticated", "You did not pass an authentication token")
        if scheme.lower() not in ("bearer", "token") or not sim.state.key_ok(FAKE, token.strip()):
            return _problem(401, "Unauthenticated", "Invalid authentication token")
        return None

    async def create(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        if model not in MODELS:
            return _not_found()
        try:
            given = _validate(await request.json())
        except ValueError:
            return _problem(400, "Bad request", "The request body is not valid JSON.")
        if isinstance(given, JSONResponse):
            return given
        if sim.state.behaviour(FAKE, model).account == "exhausted":
            # https://github.com/opencodeschool/opencode.school/issues/211 quotes this body
            return _problem(
                402,
                "Insufficient credit",
                "You have insufficient credit to run this model. Go to "
                "https://replicate.com/account/billing#billing to purchase credit.",
            )
        decision = sim.state.decide(FAKE, model)
        await wait(decision.latency.get("ttfb", 0.0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _not_found()
        if decision.fault == Fault.RATE_LIMITED:
            return _problem(
                429,
                "Too many requests",
                "This account has sent too many "
                f"predictions; its limit resets in ~{decision.retry_after_s}s.",
            )
        if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE) and decision.status != 500:
            return _problem(
                decision.status,
                "Service unavailable",
                "The service is temporarily unable to take predictions.",
            )
        # a 500 fault is not an HTTP error here: the prediction itself ends ``failed``
        prediction = _Prediction(
            _new_id(), model, given, decision, _seconds(request.headers.get("cancel-after"))
        )
        predictions[prediction.id] = prediction
        while len(predictions) > MAX_PREDICTIONS:
            predictions.popitem(last=False)
        hold = _wait_seconds(request.headers.get("prefer"))
        if hold:  # a cancel arriving during the hold is seen when the hold ends
            until = min(prediction.end()[0] + 0.002, time.monotonic() + hold)
            await wait(until - time.monotonic())
        body = prediction.view(sim, request)
        if hold and prediction.ended() is None:
            body["status"] = "starting"  # Replicate answers a held, unfinished one this way
        elif hold and body["status"] == "succeeded" and body["output"].startswith("data:"):
            body.update(status="processing", completed_at=None, metrics={})
        return JSONResponse(body, status_code=201)

    def find(request: Request) -> Response | _Prediction:
        if (refused := denied(request)) is not None:
            return refused
        prediction = predictions.get(request.path_params["id"])
        if prediction is None or sim.state.behaviour(FAKE, prediction.model).lost_job:
            return _not_found()
        return prediction

    async def get(request: Request) -> Response:
        prediction = find(request)
        if isinstance(prediction, Response):
            return prediction
        return JSONResponse(prediction.view(sim, request))

    async def cancel(request: Request) -> Response:
        prediction = find(request)
        if isinstance(prediction, Response):
            return prediction
        if prediction.ended() is None:
            prediction.cancelled_at = time.monotonic()
        return JSONResponse(prediction.view(sim, request))

    async def get_model(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        owner, name = request.path_params["owner"], request.path_params["name"]
        if f"{owner}/{name}" not in MODELS:
            return _not_found()
        decision = sim.state.decide(FAKE, f"{owner}/{name}", control=True)
        await wait(decision.latency.get("ttfb", 0.0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _not_found()
        if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            return _problem(decision.status, "Internal server error", "Something went wrong.")
        return JSONResponse(
            {
                "url": f"https://replicate.com/{owner}/{name}",
                "owner": owner,
                "name": name,
                "description": "Google's Imagen 4 text-to-image model",
                "visibility": "public",
                "is_official": True,
                "run_count": 1_000_000,
                "default_example": None,
                "github_url": None,
                "paper_url": None,
                "license_url": None,
                "cover_image_url": None,
                "latest_version": _VERSION,
            }
        )

    async def collection(request: Request) -> Response:
        """``GET /v1/collections/{slug}``: the text-to-image collection lists the image models."""
        if (refused := denied(request)) is not None:
            return refused
        if request.path_params["slug"] != "text-to-image":
            return _not_found()
        listed = sim.state.listed(FAKE, MODELS)
        return JSONResponse(
            {
                "name": "Generate images",
                "slug": "text-to-image",
                "description": "Models that generate images from text prompts",
                "models": [
                    {
                        "url": f"https://replicate.com/{m}",
                        "owner": m.split("/")[0],
                        "name": m.split("/")[1],
                        "visibility": "public",
                    }
                    for m in listed
                ],
            }
        )

    async def account(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        return JSONResponse(
            {"type": "user", "username": "provmon-sim", "name": "provmon", "github_url": None}
        )

    return [
        Route("/replicate/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
        Route("/replicate/v1/models/{owner}/{name}", get_model, methods=["GET"]),
        Route("/replicate/v1/predictions/{id}", get, methods=["GET"], name="replicate_prediction"),
        Route("/replicate/v1/predictions/{id}/cancel", cancel, methods=["POST"]),
        Route("/replicate/v1/account", account, methods=["GET"]),
        Route("/replicate/v1/collections/{slug}", collection, methods=["GET"]),
    ]
