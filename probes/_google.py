"""Google's image APIs: the Imagen ``:predict`` family, and ``:generateContent`` for Gemini.

Vertex AI and the Gemini API share the Imagen body (``instances[0].prompt`` plus
``parameters``), its answer (``predictions[].bytesBase64Encoded``, ``raiFilteredReason``) and
Google's error envelope ``{"error": {code, message, status, details}}``; subclasses supply
URLs and auth. ``:generateContent`` bodies and answers are probes/_content.py's; for
``:predict`` an offering's ``params`` are ``parameters``.
"""

from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel

from monitor.http import retry_after_seconds, status_outcome
from monitor.interfaces import Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._content import image_from_candidates, read_answer, request_body

__all__ = ["GoogleImagesProbe", "classify", "image_from_candidates", "image_from_predictions"]

Method = Literal["auto", "predict", "generateContent"]

_SERVER_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN"})
#: ``ErrorInfo.reason`` values that name an account problem, and which one
_ACCOUNT_REASONS = {
    "API_KEY_INVALID": "key",
    "API_KEY_EXPIRED": "key",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": "key",
    "CREDENTIALS_MISSING": "key",
    "API_KEY_SERVICE_BLOCKED": "permission",
    "IAM_PERMISSION_DENIED": "permission",
    "SERVICE_DISABLED": "permission",
    "CONSUMER_INVALID": "permission",
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": "permission",
    "BILLING_DISABLED": "billing",
}
#: the billing wording of Google's account errors: "This API method requires billing to be
#: enabled" (BILLING_DISABLED) and the Gemini API's 400 "Imagen API is only accessible to
#: billed users at this time." (github.com/ammaarreshi/openjourney/issues/1)
_BILLING = re.compile(r"billed users|billing to be enabled|billing account", re.IGNORECASE)
#: a quota whose limit is 0 is not a rate: the project has no allowance for the model
#: ("... generate_content_free_tier_requests, limit: 0, model: ...",
#: github.com/googleapis/js-genai/issues/1322); waiting does not help
_LIMIT_ZERO = re.compile(r"\blimit:\s*0\b", re.IGNORECASE)
#: the Imagen safety system rejects a prompt (or its own output) as a 400 INVALID_ARGUMENT,
#: not as a 200 with filtered slots: "Image generation failed with the following error: The
#: prompt could not be submitted. ... Support codes: 61493863"
#: (github.com/google-marketing-solutions/adios/issues/62) and "... The response is blocked,
#: as it may violate our policies. ... Error Code: 58061214"
#: (github.com/epam/ai-dial-adapter-vertexai/issues/66). The numeric codes are the safety
#: categories Google's Responsible AI page lists; any of these phrasings marks the filter.
_SAFETY = re.compile(
    r"support codes?:\s*\d|error code:\s*\d|image generation failed|"
    r"prompt could not be submitted|response is blocked|safety filter|responsible ai",
    re.IGNORECASE,
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def error_of(body: Any) -> dict[str, Any]:
    """The ``error`` object of a Google error body; {} when there is none.

    Both surfaces sometimes wrap the envelope in a one-element JSON array.
    """
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _quota_is_zero(error: dict[str, Any]) -> bool:
    """A quota violation whose limit is 0, in the message or in the details' metadata."""
    if _LIMIT_ZERO.search(str(error.get("message") or "")):
        return True
    for detail in _details(error):
        violations = detail.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            # QuotaFailure violations carry the limit as ``quotaValue`` (a string)
            if isinstance(violation, dict) and str(violation.get("quotaValue", "")) == "0":
                return True
        metadata = detail.get("metadata")
        if isinstance(metadata, dict) and str(metadata.get("quota_limit_value", "")) == "0":
            return True
    return False


def account_problem(status: int, body: Any) -> str | None:
    """Which part of OUR account an answer blames (key, permission, billing, quota), if any.

    Nothing a retry or the provider fixes: a person must act. Gemini reports a bad key as
    400 INVALID_ARGUMENT with reason ``API_KEY_INVALID``; billing and a zero quota show in
    the message or the details, whatever the status (400, 403 or 429).
    """
    error = error_of(body)
    state = str(error.get("status") or "")
    message = str(error.get("message") or "")
    reasons = [str(d.get("reason")) for d in _details(error) if d.get("reason")]
    if status == 402 or _BILLING.search(message) or "BILLING_DISABLED" in reasons:
        return "billing"
    for reason in reasons:
        if reason in _ACCOUNT_REASONS:
            return _ACCOUNT_REASONS[reason]
    if (status == 429 or state == "RESOURCE_EXHAUSTED") and _quota_is_zero(error):
        return "quota"
    if state == "FAILED_PRECONDITION" and "location" in message.lower():
        # "User location is not supported for the API use." (the agent's region)
        return "permission"
    if status == 401 or state == "UNAUTHENTICATED":
        return "key"
    if status == 403 or state == "PERMISSION_DENIED":
        # 403 "Your API key was reported as leaked." is the key; anything else, a permission
        return "key" if "api key" in message.lower() else "permission"
    return None


def classify(status: int, body: Any) -> Outcome:
    """The outcome of a non-200 answer from Vertex AI or the Gemini API.

    Every call a Google probe makes names the model, so a 404 is ``model_unavailable`` —
    but only in Google's JSON envelope with status NOT_FOUND; an HTML 404 (a wrong URL, a
    proxy) is ``protocol_error``. Then :func:`monitor.http.status_outcome`.
    """
    error = error_of(body)
    state = str(error.get("status") or "")
    if account_problem(status, body):
        return Outcome.AUTH_ERROR
    if (status == 400 or state == "INVALID_ARGUMENT") and _SAFETY.search(
        str(error.get("message") or "")
    ):
        return Outcome.CONTENT_FILTERED
    if status in (404, 410) or state == "NOT_FOUND":
        return Outcome.MODEL_UNAVAILABLE if state == "NOT_FOUND" else Outcome.PROTOCOL_ERROR
    if status == 429 or state == "RESOURCE_EXHAUSTED":
        return Outcome.RATE_LIMITED
    if status >= 500 or state in _SERVER_STATUSES:
        return Outcome.SERVER_ERROR
    return status_outcome(status)


def retry_delay(body: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``retryDelay: "7s"``), if any."""
    for detail in _details(error_of(body)):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, dict):  # the proto form, tolerated though JSON sends a string
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
            match = _DURATION.match(str(delay))
            if match:
                return float(match.group(1))
    return None


def _b64(data: Any, where: str) -> bytes:
    if not isinstance(data, str):
        raise ProbeFailure(Outcome.INVALID_OUTPUT, f"{where} is not a string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProbeFailure(Outcome.INVALID_OUTPUT, f"{where} is not base64") from None


def image_from_predictions(answer: Any) -> bytes:
    """The first image of a ``:predict`` answer; raises when there is none.

    Blocked images are dropped from ``predictions``: all blocked is a 200 with no images,
    or with ``raiFilteredReason`` slots when ``includeRaiReason`` was sent. An entry with
    ``contentType: "Positive Prompt"`` carries the prompt's safety scores, not an image.
    """
    if not isinstance(answer, dict):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer is not a JSON object", http_status=200)
    predictions = answer.get("predictions") or []
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "predictions is not a list of objects")
    slots = [p for p in predictions if p.get("contentType") != "Positive Prompt"]
    for slot in slots:
        if "bytesBase64Encoded" in slot:
            return _b64(slot["bytesBase64Encoded"], "bytesBase64Encoded")
    reasons = [str(s["raiFilteredReason"]) for s in slots if s.get("raiFilteredReason")]
    if reasons or not slots:
        why = "; ".join(reasons) or "200 with zero images"
        raise ProbeFailure(Outcome.CONTENT_FILTERED, f"filtered: {why}"[:500], http_status=200)
    if any("gcsUri" in s for s in slots):
        raise ProbeFailure(Outcome.BAD_REQUEST, "images went to Cloud Storage (storageUri set)")
    raise ProbeFailure(Outcome.INVALID_OUTPUT, "predictions carry no image bytes")


class GoogleImagesProbe(ABC):
    """Base of the Vertex AI and Gemini API probes: bodies, answers and errors."""

    Options: ClassVar[type[BaseModel]]
    #: ``:predict`` parameters sent unless the offering overrides them
    default_params: ClassVar[dict[str, Any]] = {"sampleCount": 1}

    @abstractmethod
    async def auth_headers(self, ctx: ProbeContext) -> dict[str, str]:
        """Headers that authenticate a request (a bearer token, or an API key)."""

    @abstractmethod
    def model_url(self, ctx: ProbeContext) -> str:
        """The model's resource URL; ``:predict`` or ``:generateContent`` is appended."""

    @abstractmethod
    def metadata_url(self, ctx: ProbeContext) -> str:
        """The free control call's URL (get the model)."""

    def method(self, ctx: ProbeContext) -> str:
        chosen = str(getattr(ctx.options, "method", "auto"))
        if chosen != "auto":
            return chosen
        return "generateContent" if ctx.provider_model.startswith("gemini-") else "predict"

    def body(self, ctx: ProbeContext, method: str) -> dict[str, Any]:
        if method == "generateContent":
            return request_body(ctx.prompt, ctx.params)
        parameters = {**self.default_params, **ctx.params}
        return {"instances": [{"prompt": ctx.prompt}], "parameters": parameters}

    def fail(self, response: httpx.Response) -> ProbeFailure:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = error_of(body)
        status = response.status_code
        message = str(error.get("message") or "") or response.text[:200]
        if not error:
            message = f"no Google error envelope (a wrong URL or a proxy?): {message}"
        account = account_problem(status, body)
        # the account part first, so a person reads whose problem it is
        prefix = f"account: {account}; " if account else ""
        delay = retry_delay(body)
        return ProbeFailure(
            classify(status, body),
            f"{prefix}HTTP {status} {error.get('status') or ''}: {message}"[:1000],
            http_status=status,
            retry_after_s=delay if delay is not None else retry_after_seconds(response.headers),
        )

    async def generate(self, ctx: ProbeContext) -> bytes:
        method = self.method(ctx)
        headers = await self.auth_headers(ctx)  # may also learn the project (Vertex)
        url = f"{self.model_url(ctx)}:{method}"
        response = await ctx.send("POST", url, json=self.body(ctx, method), headers=headers)
        if response.status_code != 200:
            raise self.fail(response)
        answer = ctx.json_body(response)
        if method == "generateContent":
            return read_answer(ctx, answer)
        return image_from_predictions(answer)

    async def control(self, ctx: ProbeContext) -> None:
        headers = await self.auth_headers(ctx)
        response = await ctx.send("GET", self.metadata_url(ctx), headers=headers)
        if response.status_code != 200:
            raise self.fail(response)
        answer = ctx.json_body(response)
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or name.rsplit("/", 1)[-1] != ctx.provider_model:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "model answer does not name the model")
