"""Fake OpenRouter image API under ``/openrouter/api/v1``.

``POST /images`` answers ``{created, data: [{b64_json, media_type}], usage}`` with
``usage.cost`` in USD and token counts; ``GET /images/models`` lists the image models and
``GET /images/models/{author}/{slug}/endpoints`` their endpoints with ``pricing`` lines
(shapes as the official SDK, PyPI ``openrouter`` 1.3.84, ``components/imagegeneration*.py``
and ``imagemodel*.py``, validates them). ``GET /key`` describes the key (a subset of the
SDK's ``GetCurrentKeyData``: label, limit, limit_remaining, usage, is_free_tier). Errors use
``{"error": {code, message, metadata?}}`` with the HTTP status equal to ``code``
(https://openrouter.ai/docs/errors): 401 bad key, 402 no credits (behaviour variant
``credits``), 403 moderation flag with ``metadata.reasons``, 429, 502 model down, 503 no
provider, 400 for an unknown model id. Models and costs: monitor/sim/models.py.
"""

from __future__ import annotations

import base64
import time
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim import models
from monitor.sim._common import Sim, apply_transport_fault, image_bytes, wait
from monitor.sim.content import ASPECTS
from monitor.sim.scenario import Fault

FAKE = "openrouter"
PREFIX = "/openrouter/api/v1"


def _error(
    status: int,
    message: str,
    metadata: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata:
        error["metadata"] = metadata
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _auth(sim: Sim, request: Request) -> JSONResponse | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sim.state.key_ok(FAKE, key.strip()):
        return _error(401, "No auth credentials found" if not key else "User not found.")
    return None


def _check(body: Any) -> tuple[JSONResponse | None, dict[str, Any]]:
    if not isinstance(body, dict):
        return _error(400, "Input validation error: body must be an object"), {}
    model, prompt = body.get("model"), body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _error(400, "Input validation error: prompt is required"), {}
    if not isinstance(model, str) or model not in models.OPENROUTER:
        return _error(400, f"{model} is not a valid model ID"), {}
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:  # gateway PR #1722
        return _error(400, "Input validation error: n must be a number from 1 to 10"), {}
    aspect = body.get("aspect_ratio", "1:1")
    if aspect not in ASPECTS:
        return _error(400, f"Input validation error: unsupported aspect_ratio {aspect!r}"), {}
    if body.get("response_format", "b64_json") != "b64_json":
        return _error(400, "Input validation error: only b64_json is returned"), {}
    return None, {"model": model, "n": n, "size": ASPECTS[aspect], "prompt": prompt}


def _answer(args: dict[str, Any]) -> dict[str, Any]:
    facts = models.OPENROUTER[args["model"]]
    width, height = args["size"]
    raw, mime = image_bytes(width, height, "png")
    item = {"b64_json": base64.b64encode(raw).decode("ascii"), "media_type": mime}
    n = args["n"]
    cost = facts.cost_usd * n
    output = (facts.output_tokens or 0) * n
    prompt = max(1, len(args["prompt"]) // 4) if facts.output_tokens else 0
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "cost": float(cost),
    }
    if facts.output_tokens:
        usage["completion_tokens_details"] = {"image_tokens": output}
    usage["cost_details"] = {"upstream_inference_cost": float(cost)}
    return {"created": int(time.time()), "data": [item] * n, "usage": usage}


_ASPECT_PARAM = {"type": "enum", "values": sorted(ASPECTS)}
_MODALITIES = {"input_modalities": ["text", "image"], "output_modalities": ["image"]}


def _listing(model: str) -> dict[str, Any]:
    return {
        "id": model,
        "name": model,
        "created": 1_775_000_000,
        "description": f"{model} (simulated)",
        "endpoints": f"{PREFIX.removeprefix('/openrouter')}/images/models/{model}/endpoints",
        "architecture": _MODALITIES,
        "supported_parameters": {"aspect_ratio": _ASPECT_PARAM},
        "supports_streaming": False,
    }


def _endpoints(model: str) -> dict[str, Any]:
    facts = models.OPENROUTER[model]
    if facts.output_tokens:  # token-billed: the per-token rate that makes the image cost
        pricing = {
            "billable": "output_image",
            "unit": "token",
            "cost_usd": float(facts.cost_usd / facts.output_tokens),
        }
    else:
        pricing = {"billable": "output_image", "unit": "image", "cost_usd": float(facts.cost_usd)}
    endpoint = {
        "provider_name": "Sim",
        "provider_slug": "sim",
        "provider_tag": None,
        "pricing": [pricing],
        "allowed_passthrough_parameters": [],
        "supported_parameters": {"aspect_ratio": _ASPECT_PARAM},
        "supports_streaming": False,
    }
    return {"id": model, "endpoints": [endpoint]}


def routes(sim: Sim) -> list[Route]:
    async def generate(request: Request) -> Response:
        denied = _auth(sim, request)
        if denied:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Input validation error: body is not JSON")
        invalid, args = _check(body)
        if invalid:
            return invalid
        model = args["model"]
        behaviour = sim.state.behaviour(FAKE, model)
        if behaviour.variant == "credits":
            return _error(402, "Insufficient credits. Add more using https://openrouter.ai/credits")
        decision = sim.state.decide(FAKE, model)
        await wait(decision.latency.get("ttfb", 0) + decision.latency.get("inference", 0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _error(400, f"{model} is not a valid model ID")
        if decision.fault == Fault.RATE_LIMITED:
            return _error(
                429,
                "Rate limit exceeded: too many requests",
                headers={"retry-after": str(decision.retry_after_s)},
            )
        if decision.fault == Fault.UNAVAILABLE:
            return _error(503, "No allowed providers are available for the selected model.")
        if decision.fault == Fault.SERVER_ERROR:
            return _error(502, "Provider returned error", {"provider_name": "Sim"})
        if decision.fault == Fault.SAFETY:
            metadata = {
                "reasons": ["sexual"],
                "flagged_input": args["prompt"][:100],
                "provider_name": "Sim",
                "model_slug": model,
            }
            return _error(403, f"{model} requires moderation on Sim. Input flagged", metadata)
        return JSONResponse(_answer(args))

    async def list_models(request: Request) -> Response:
        alive = [m for m in models.OPENROUTER if not sim.state.behaviour(FAKE, m).retired]
        return JSONResponse({"data": [_listing(m) for m in alive]})

    async def endpoints(request: Request) -> Response:
        model = f"{request.path_params['author']}/{request.path_params['slug']}"
        if model not in models.OPENROUTER or sim.state.behaviour(FAKE, model).retired:
            return _error(404, f"Model {model} not found")
        return JSONResponse(_endpoints(model))

    async def key(request: Request) -> Response:
        denied = _auth(sim, request)
        if denied:
            return denied
        spent = any(sim.state.behaviour(FAKE, m).variant == "credits" for m in models.OPENROUTER)
        limit = Decimal("10")
        return JSONResponse(
            {
                "data": {
                    "label": "sk-or-v1-sim...",
                    "limit": float(limit),
                    "usage": float(limit) if spent else 1.25,
                    "limit_remaining": 0.0 if spent else float(limit) - 1.25,
                    "is_free_tier": False,
                }
            }
        )

    return [
        Route(f"{PREFIX}/images", generate, methods=["POST"]),
        Route(f"{PREFIX}/images/models", list_models, methods=["GET"]),
        Route(f"{PREFIX}/images/models/{{author}}/{{slug}}/endpoints", endpoints, methods=["GET"]),
        Route(f"{PREFIX}/key", key, methods=["GET"]),
    ]
