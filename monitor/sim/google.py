"""Fake Vertex AI under ``/vertex/...`` and fake Gemini API under ``/gemini/...``.

Both serve Imagen ``:predict`` and Gemini-image ``:generateContent`` plus model metadata
GETs, check credentials the way the real ones do and answer in Google's error envelope
``{"error": {code, message, status, details}}``. Vertex: ``Authorization: Bearer`` on
``/{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:predict`` (v1 and v1beta1,
the google-genai default), express mode with ``x-goog-api-key`` on
``/{v}/publishers/google/models/{m}:predict``, and ``/vertex/token`` imitating
``oauth2.googleapis.com/token`` for service-account keys. Gemini: ``x-goog-api-key`` or
``?key=`` on ``/{v1beta|v1}/models/{m}:predict``; a bad key is 400 ``API_KEY_INVALID``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim import content, models
from monitor.sim._common import Sim, apply_transport_fault, wait
from monitor.sim.google_answers import (
    Surface,
    account_failure,
    error,
    failure,
    info,
    not_found_page,
    predict_answer,
    prompt_block,
    vertex_model,
)
from monitor.sim.images import ASPECT_1K, size_for_aspect
from monitor.sim.scenario import Fault

IMAGEN = (
    "imagen-4.0-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-ultra-generate-001",
    "imagen-3.0-generate-002",
)
GEMINI_IMAGE = tuple(models.GOOGLE)  # :generateContent models (monitor/sim/models.py)
_PERSON = {"DONT_ALLOW", "ALLOW_ADULT", "ALLOW_ALL"}
_SAFETY = {"BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE"}
_MIME = {"image/png": "png", "image/jpeg": "jpeg"}
_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TOKEN_LIFETIME_S = 3599
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: google-auth signs this audience whatever the key file's token_uri says
OAUTH_AUDIENCE = "https://oauth2.googleapis.com/token"


def _gemini_model(model: str) -> dict[str, Any]:
    image_model = model in GEMINI_IMAGE
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model,
        "description": "Image generation model (simulated).",
        "inputTokenLimit": 32768 if image_model else 480,
        "outputTokenLimit": 32768 if image_model else 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens"]
        if image_model
        else ["predict"],
    }


VERTEX = Surface(
    fake="vertex",
    service="aiplatform.googleapis.com",
    versions=("v1", "v1beta1"),
    rejected=frozenset(),
    rejected_values={},
    needs_role=True,
    not_found=lambda model, method, version: (
        f"Publisher model publishers/google/models/{model} does not exist, or this project "
        "has no access to it."
    ),
    retry_info=False,
    wrapped=frozenset({503}),
    describe=vertex_model,
)
GEMINI = Surface(
    fake="gemini",
    service="generativelanguage.googleapis.com",
    versions=("v1beta", "v1"),
    rejected=frozenset(
        {"negativePrompt", "seed", "addWatermark", "enhancePrompt", "storageUri", "labels"}
    ),
    rejected_values={"personGeneration": "ALLOW_ALL", "safetySetting": "BLOCK_NONE"},
    needs_role=False,
    not_found=lambda model, method, version: (
        f"models/{model} was not found for API version {version}, or does not support "
        f"{method}. List the models and the methods they support with ListModels."
    ),
    retry_info=True,
    wrapped=frozenset(),
    describe=_gemini_model,
)


class _Bad(Exception):
    """A body the real API would answer with 400 INVALID_ARGUMENT."""


def _check_predict(surface: Surface, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Bad("The request body must be a JSON object.")
    instances = body.get("instances")
    first = instances[0] if isinstance(instances, list) and instances else None
    prompt = first.get("prompt") if isinstance(first, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise _Bad("instances[0].prompt is required and must be a non-empty string.")
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise _Bad("parameters must be an object.")
    unsupported = sorted(surface.rejected & (set(params) | set(body)))
    if unsupported:
        raise _Bad(f"{unsupported[0]} is not supported by this API.")
    n = params.get("sampleCount", 4)  # Imagen's default is four images, each billed
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4:
        raise _Bad("sampleCount must be an integer from 1 to 4.")
    aspect = params.get("aspectRatio", "1:1")
    if aspect not in ASPECT_1K:
        raise _Bad(f"Unsupported aspectRatio {aspect!r}; use one of {', '.join(ASPECT_1K)}.")
    size = params.get("sampleImageSize", "1K")
    if size not in ("1K", "2K"):
        raise _Bad("sampleImageSize must be 1K or 2K.")
    options = params.get("outputOptions") or {}
    mime = options.get("mimeType", "image/png") if isinstance(options, dict) else None
    if mime not in _MIME:
        raise _Bad("outputOptions.mimeType must be image/png or image/jpeg.")
    quality = options.get("compressionQuality", 75)
    if not isinstance(quality, int) or not 0 <= quality <= 100:
        raise _Bad("outputOptions.compressionQuality must be an integer from 0 to 100.")
    for name, allowed in (("personGeneration", _PERSON), ("safetySetting", _SAFETY)):
        value = str(params.get(name, "")).upper()  # REST docs use lower case, the SDK upper
        if name in params and (value not in allowed or surface.rejected_values.get(name) == value):
            raise _Bad(f"{name} {params[name]!r} is not supported.")
    if "seed" in params and params.get("addWatermark", True):
        raise _Bad("seed cannot be used while addWatermark is enabled.")
    return {
        "n": n,
        "size": size_for_aspect(aspect, size),
        "fmt": _MIME[mime],
        "prompt": prompt,
        "rai": bool(params.get("includeRaiReason")),
        "safety": bool(params.get("includeSafetyAttributes")),
        "enhance": params.get("enhancePrompt", True) is not False,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Tokens:
    """Access tokens issued by the fake token endpoint, with their expiry."""

    def __init__(self) -> None:
        self.expiry: dict[str, float] = {}

    def issue(self) -> str:
        token = f"ya29.sim-{secrets.token_urlsafe(24)}"
        self.expiry[token] = time.monotonic() + TOKEN_LIFETIME_S
        return token

    def valid(self, token: str) -> bool:
        return self.expiry.get(token, 0.0) > time.monotonic()


def _jwt_claims(assertion: str) -> dict[str, Any]:
    """The claims of a JWT. The fake cannot check the signature: it never saw the key."""
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
            for seg in assertion.split(".")[:2]
        )
    except (ValueError, binascii.Error):
        raise _Bad("Invalid JWT: not a signed JWT.") from None
    if assertion.count(".") != 2 or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise _Bad("Invalid JWT: expected an RS256 signed JWT.")
    return claims


def _vertex_auth(sim: Sim, tokens: _Tokens, request: Request, express: bool) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    missing = [info("CREDENTIALS_MISSING", VERTEX.service)]
    if scheme.lower() == "bearer" and token.strip():
        if sim.state.key_ok("vertex", token.strip()) or tokens.valid(token.strip()):
            return None
        return error(
            401,
            "Request had invalid authentication credentials. Expected an OAuth 2 "
            "access token or another valid authentication credential.",
            [info("ACCESS_TOKEN_TYPE_UNSUPPORTED", VERTEX.service)],
        )
    if key and not express:
        return error(
            401,
            "API keys are not supported by this API. Expected OAuth2 access "
            "token or other authentication credentials.",
            missing,
        )
    if key:  # express mode; the bad-key answer is assumed to match the Gemini API's
        if sim.state.key_ok("vertex", key):
            return None
        return error(
            400,
            "API key not valid. Please pass a valid API key.",
            [info("API_KEY_INVALID", VERTEX.service)],
        )
    return error(
        401,
        "Request is missing required authentication credential. Expected an "
        "OAuth 2 access token or another valid authentication credential.",
        missing,
    )


def _gemini_auth(sim: Sim, request: Request) -> Response | None:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        return error(
            403,
            "Method doesn't allow unregistered callers. Send an API key or "
            "another form of API consumer identity.",
        )
    if not sim.state.key_ok("gemini", key):
        # Google answers a bad key with 400, not 401: only the reason says it is auth
        return error(
            400,
            "API key not valid. Please pass a valid API key.",
            [info("API_KEY_INVALID", GEMINI.service)],
        )
    return None


def routes(sim: Sim) -> list[Route]:
    tokens = _Tokens()

    async def act(request: Request, surface: Surface, target: str) -> Response:
        model, _, method = target.partition(":")
        version = request.path_params["version"]
        if method not in ("predict", "generateContent"):
            return error(404, f"Method {method or 'GET'} was not found on this model.")
        kinds = IMAGEN if method == "predict" else GEMINI_IMAGE
        if model not in kinds:
            return error(404, surface.not_found(model, method, version))
        location = request.path_params.get("location", "global")
        global_only = method == "generateContent" and models.GOOGLE[model].vertex_global_only
        if global_only and location != "global":  # Vertex serves Gemini 3 on global only
            return error(404, surface.not_found(model, method, version))
        try:
            body = json.loads(await request.body())
            if method == "predict":
                args = _check_predict(surface, body)
            else:
                args = content.check(model, body, needs_role=surface.needs_role)
        except (ValueError, AttributeError, TypeError):
            return error(400, "Invalid JSON payload received.")
        except (_Bad, content.Bad) as bad:
            return error(400, str(bad))
        decision = sim.state.decide(surface.fake, model)
        await wait(decision.latency.get("ttfb", 0) + decision.latency.get("inference", 0))
        broken = await apply_transport_fault(decision, request)
        if broken is not None:
            return broken
        behaviour = sim.state.behaviour(surface.fake, model)
        if behaviour.filter == "prompt_block" and method == "predict":
            return prompt_block()
        failed = account_failure(surface, behaviour, model) or failure(
            surface, decision, model, method, version
        )
        if failed is not None:
            return failed
        filtered = decision.fault == Fault.SAFETY
        if method == "predict":
            return JSONResponse(predict_answer(args, filtered))
        variant = sim.state.behaviour(surface.fake, model).variant
        return JSONResponse(
            content.answer(
                model, args, filtered=filtered, variant=variant, vertex=surface is VERTEX
            )
        )

    async def describe(request: Request, surface: Surface, model: str) -> Response:
        version = request.path_params["version"]
        if model not in IMAGEN + GEMINI_IMAGE:
            return error(404, surface.not_found(model, "get", version))
        decision = sim.state.decide(surface.fake, model, control=True)
        await wait(decision.latency.get("ttfb", 0))
        broken = await apply_transport_fault(decision, request)
        return (
            broken
            or failure(surface, decision, model, "get", version)
            or JSONResponse(surface.describe(model))
        )

    async def vertex(request: Request) -> Response:
        if request.path_params["version"] not in VERTEX.versions:
            return not_found_page(request.url.path)
        express = "project" not in request.path_params
        denied = _vertex_auth(sim, tokens, request, express)
        if denied is not None:
            return denied
        target = request.path_params["target"]
        if request.method == "GET":
            return await describe(request, VERTEX, target)
        return await act(request, VERTEX, target)

    async def gemini(request: Request) -> Response:
        if request.path_params["version"] not in GEMINI.versions:
            return not_found_page(request.url.path)
        denied = _gemini_auth(sim, request)
        if denied is not None:
            return denied
        target = request.path_params.get("target")
        if target is None:  # models.list
            alive = sim.state.listed("gemini", IMAGEN + GEMINI_IMAGE)
            return JSONResponse({"models": [_gemini_model(m) for m in alive]})
        if request.method == "GET":
            return await describe(request, GEMINI, target)
        return await act(request, GEMINI, target)

    async def vertex_list(request: Request) -> Response:
        """``publishers.models.list``: the publisher's models (v1beta1 only)."""
        if request.path_params["version"] != "v1beta1":
            return not_found_page(request.url.path)
        denied = _vertex_auth(sim, tokens, request, True)
        if denied is not None:
            return denied
        alive = sim.state.listed("vertex", IMAGEN + GEMINI_IMAGE)
        return JSONResponse({"publisherModels": [vertex_model(m) for m in alive]})

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."},
                status_code=400,
            )
        try:
            claims = _jwt_claims(form.get("assertion", ""))
            now = time.time()
            if claims.get("aud") not in (OAUTH_AUDIENCE, str(request.url.replace(query=""))):
                raise _Bad("Invalid JWT: aud is not this token endpoint.")
            if not claims.get("iss") or "cloud-platform" not in str(claims.get("scope", "")):
                raise _Bad("Invalid JWT: iss and the cloud-platform scope are required.")
            if not float(claims.get("iat", 0)) - 300 <= now < float(claims.get("exp", 0)):
                raise _Bad(
                    "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
                )
        except (_Bad, TypeError, ValueError) as bad:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(bad)}, status_code=400
            )
        sim.state.stats["vertex:token"] += 1
        return JSONResponse(
            {"access_token": tokens.issue(), "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        )

    async def unknown(request: Request) -> Response:
        return not_found_page(request.url.path)

    prefix = "/vertex/{version}/projects/{project}/locations/{location}/publishers/google/models"
    return [
        Route("/vertex/token", token, methods=["POST"]),
        Route("/vertex/{version}/publishers/google/models", vertex_list, methods=["GET"]),
        Route(prefix + "/{target}", vertex, methods=["GET", "POST"]),
        Route(
            "/vertex/{version}/publishers/google/models/{target}", vertex, methods=["GET", "POST"]
        ),
        Route("/gemini/{version}/models", gemini, methods=["GET"]),
        Route("/gemini/{version}/models/{target}", gemini, methods=["GET", "POST"]),
        # anything else under the prefixes: Google's HTML 404, not a JSON envelope
        Route("/vertex/{rest:path}", unknown, methods=_ANY),
        Route("/gemini/{rest:path}", unknown, methods=_ANY),
    ]
