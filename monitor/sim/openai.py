"""Fake OpenAI-compatible Images API (OpenAI, Lumenfall) under ``/openai/v1``.

``POST /images/generations`` answers ``data[].url`` (Lumenfall's default) or
``data[].b64_json``; ``GET /models`` and ``/models/{id}`` are the free calls. Errors use
OpenAI's envelope ``{"error": {message, type, param, code}}`` with its status codes.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim import models
from monitor.sim._common import Sim, apply_transport_fault, image_bytes, wait
from monitor.sim.images import new_id, parse_size
from monitor.sim.scenario import Fault

FAKE = "openai"
MODELS = (
    "imagen-4.0-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-ultra-generate-001",
    "gemini-2.5-flash-image",
    *models.OPENAI,  # today's models of every OpenAI-shape provider (monitor/sim/models.py)
)
_FORMATS = {"png", "jpeg", "webp"}


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(
        body, status_code=status, headers={"x-request-id": _rid(), **(headers or {})}
    )


def _rid() -> str:
    return f"req_{new_id()}"


def _auth(sim: Sim, request: Request) -> str | JSONResponse:
    """The caller's key when it is accepted, else the 401 to answer with."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not header and request.headers.get("api-key"):
        # Azure OpenAI's header; this fake stands in for every OpenAI-shape provider
        header, scheme, key = "api-key", "bearer", request.headers["api-key"]
    if not header:
        return _error(
            401,
            "No API key was provided. Send it as 'Authorization: Bearer KEY'.",
            "invalid_request_error",
        )
    if scheme.lower() != "bearer" or not sim.state.key_ok(FAKE, key.strip()):
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    return key.strip()


def _not_found(model: str) -> JSONResponse:
    return _error(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    )


#: resolution presets some OpenAI-shape providers take, as square sizes
PRESETS = {"1K": "1024x1024", "2K": "2048x2048", "4K": "4096x4096"}


def _validate(body: Any) -> tuple[JSONResponse | None, dict[str, Any]]:
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object.", "invalid_request_error"), {}
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _error(
            400,
            "'prompt' is a required string.",
            "invalid_request_error",
            "missing_required_parameter",
            "prompt",
        ), {}
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        return _error(
            400, "'n' must be between 1 and 10.", "invalid_request_error", "invalid_value", "n"
        ), {}
    size = body.get("size", "1024x1024")
    # BytePlus's Seedream takes resolution presets ("2K") as well as WxH (UNCONFIRMED
    # beyond its docs' examples); OpenAI's own models take WxH or "auto" only
    model = str(body.get("model", ""))
    if isinstance(size, str) and size in PRESETS and "seedream" in model:
        size = PRESETS[size]
    if not isinstance(size, str) or (size != "auto" and parse_size(size, (0, 0)) == (0, 0)):
        return _error(
            400, f"Invalid size '{size}'.", "invalid_request_error", "invalid_value", "size"
        ), {}
    response_format = body.get("response_format", "url")
    if response_format not in ("url", "b64_json"):
        return _error(
            400,
            "'response_format' must be 'url' or 'b64_json'.",
            "invalid_request_error",
            "invalid_value",
            "response_format",
        ), {}
    fmt = body.get("output_format", "png")
    if fmt not in _FORMATS:
        return _error(
            400,
            f"Invalid output_format '{fmt}'.",
            "invalid_request_error",
            "invalid_value",
            "output_format",
        ), {}
    return None, {"n": n, "size": size, "response_format": response_format, "fmt": fmt}


def _account_failure(problem: str, model: str) -> JSONResponse:
    """A generation refused for our account, in the body its server really sends.

    OpenAI's own models (``gpt-image-*``) get OpenAI's bodies (sources in
    tests/fixtures/answers/openai: insufficient_quota, billing_hard_limit_reached,
    invalid_api_key, the organization-verification 403); the models Lumenfall resells get
    Lumenfall's documented ones (docs.lumenfall.ai/api-reference/errors).
    Only billable calls are refused: listing or getting models stays free and working.
    """
    if not model.startswith("gpt-image"):
        if problem in ("exhausted", "billing"):
            return _error(
                402,
                "Insufficient balance: $0.04 required, $0.00 available",
                "insufficient_quota",
                "INSUFFICIENT_BALANCE",
            )
        # Lumenfall documents no permission error: a key without access is rejected as one
        return _error(401, "Invalid API key", "authentication_error", "AUTHENTICATION_FAILED")
    if problem == "exhausted":
        return _error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    if problem == "billing":
        return _error(
            400,
            "Billing hard limit has been reached",
            "invalid_request_error",
            "billing_hard_limit_reached",
        )
    if problem == "key":
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    return _error(
        403,
        f"Your organization must be verified to use the model `{model}`.",
        "invalid_request_error",
    )


def routes(sim: Sim) -> list[Route]:
    async def generate(request: Request) -> Response:
        started = time.perf_counter()
        key = _auth(sim, request)
        if not isinstance(key, str):
            return key
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The body is not valid JSON.", "invalid_request_error")
        invalid, args = _validate(body)
        if invalid:
            return invalid
        model = body.get("model")
        if not isinstance(model, str) or not sim.state.known(FAKE, model, MODELS):
            return _not_found(str(model))
        decision = sim.state.decide(FAKE, model)
        await wait(decision.latency.get("ttfb", 0) + decision.latency.get("inference", 0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _not_found(model)
        problem = sim.state.behaviour(FAKE, model).account
        if problem not in (None, "ok"):
            return _account_failure(problem, model)
        if decision.fault == Fault.RATE_LIMITED:
            return _error(
                429,
                "Rate limit reached for images per minute. Try again later.",
                "requests",
                "rate_limit_exceeded",
                headers={
                    "retry-after": str(decision.retry_after_s),
                    "x-ratelimit-remaining-requests": "0",
                },
            )
        if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            return _error(
                decision.status,
                "The server had an error while processing your request.",
                "server_error",
            )
        if decision.fault == Fault.SAFETY:
            return _error(
                400,
                "Your request was rejected by the safety system.",
                "image_generation_user_error",
                "moderation_blocked",
            )
        answer = _success(sim, request, model, body, args)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        served = sim.state.behaviour(FAKE, model).served_model
        if served:  # OpenAI omits it; some compatible servers name the model that answered
            answer["model"] = served
        return JSONResponse(
            answer,
            headers={"x-request-id": _rid(), "openai-processing-ms": str(elapsed_ms)},
        )

    async def list_models(request: Request) -> Response:
        key = _auth(sim, request)
        if not isinstance(key, str):
            return key
        alive = sim.state.listed(FAKE, MODELS)
        own = models.OWN_MODELS.get(key)
        if own is not None:  # a provider lists its own models, not the others sharing this fake
            alive = [m for m in alive if m.startswith(own)]
        return JSONResponse(
            {"object": "list", "data": [_model(m) for m in alive]}, headers={"x-request-id": _rid()}
        )

    async def get_model(request: Request) -> Response:
        key = _auth(sim, request)
        if not isinstance(key, str):
            return key
        model = request.path_params["model"]
        if not sim.state.known(FAKE, model, MODELS):
            return _not_found(model)
        decision = sim.state.decide(FAKE, model, control=True)
        await wait(decision.latency.get("ttfb", 0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _not_found(model)
        if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            return _error(decision.status, "The server had an error.", "server_error")
        return JSONResponse(_model(model), headers={"x-request-id": _rid()})

    async def unknown(request: Request) -> Response:
        # OpenAI answers a path it does not serve in its envelope, naming method and path
        # (github.com/yym68686/ChatGPT-Telegram-Bot/issues/108); the path without our prefix
        path = request.url.path.removeprefix("/openai")
        return _error(404, f"Invalid URL ({request.method} {path})", "invalid_request_error")

    return [
        Route("/openai/v1/images/generations", generate, methods=["POST"]),
        Route("/openai/v1/models", list_models, methods=["GET"]),
        Route("/openai/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/openai/v1/{rest:path}", unknown, methods=["GET", "POST", "PUT", "DELETE"]),
    ]


def _success(
    sim: Sim, request: Request, model: str, body: dict[str, Any], args: dict[str, Any]
) -> dict[str, Any]:
    """A 200 answer. GPT Image models answer ``b64_json`` only, echo the settings they used
    and report token ``usage`` (openai SDK ``types/images_response.py``: input tokens with a
    text/image breakdown, output tokens without one, as litellm#31142 reports)."""
    facts = models.OPENAI.get(model, models.ImagesModel())
    gpt_image = model.startswith("gpt-image") or facts.b64_only
    width, height = parse_size(args["size"])
    data = []
    for _ in range(args["n"]):
        if args["response_format"] == "b64_json" or gpt_image:
            raw, _mime = image_bytes(width, height, args["fmt"])
            data.append({"b64_json": base64.b64encode(raw).decode("ascii")})
        else:
            data.append({"url": sim.file_url(request, width, height, args["fmt"])})
    answer: dict[str, Any] = {"created": int(time.time())}
    if gpt_image:
        answer["background"] = "opaque"
    answer["data"] = data
    quality = str(body.get("quality", "auto"))
    if gpt_image:
        used = "medium" if quality == "auto" else quality  # the answer names what it used
        answer |= {"output_format": args["fmt"], "quality": used, "size": f"{width}x{height}"}
    per_image = facts.output_tokens.get(quality)
    if per_image is not None:
        prompt = max(1, len(str(body.get("prompt", ""))) // 4)
        output = per_image * args["n"]
        answer["usage"] = {
            "input_tokens": prompt,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": prompt},
            "output_tokens": output,
            "total_tokens": prompt + output,
        }
    return answer


def _model(model: str) -> dict[str, Any]:
    owner = "google" if model.startswith(("imagen", "gemini")) else "openai"
    return {"id": model, "object": "model", "created": 1_750_000_000, "owned_by": owner}
