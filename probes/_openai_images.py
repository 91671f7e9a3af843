"""The OpenAI Images API family: ``POST {base}/images/generations`` and ``GET {base}/models``.

Shared by every OpenAI-compatible surface (OpenAI itself, the Lumenfall aggregator); a
subclass overrides only its defaults and quirks. Answers carry ``data[].b64_json`` or
``data[].url``; errors use OpenAI's envelope ``{"error": {message, type, param, code}}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from monitor.http import retry_after_seconds
from monitor.interfaces import ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._listings import openai_models

_FILTERED_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
_GONE_CODES = frozenset({"model_not_found", "model_deprecated", "model_retired"})


class OpenAIImagesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: how the free control probe checks the model: get it, or list all and look for it
    control: Literal["get_model", "list_models"] = "get_model"
    organization: str | None = None
    project: str | None = None


def error_fields(body: Any) -> tuple[str, str, str]:
    """(code, type, message) from an OpenAI error envelope; empty strings when absent."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return (
            str(error.get("code") or ""),
            str(error.get("type") or ""),
            str(error.get("message") or ""),
        )
    if isinstance(error, str):  # some compatible servers send a bare string
        return "", "", error
    return "", "", ""


def classify(status: int, body: Any) -> Outcome:
    """The outcome of a non-200 answer from an OpenAI-compatible server."""
    code, kind, _ = error_fields(body)
    if code in _FILTERED_CODES or (kind == "image_generation_user_error" and "moderation" in code):
        return Outcome.CONTENT_FILTERED
    if code in _GONE_CODES or status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE
    if status in (401, 403):
        return Outcome.AUTH_ERROR
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.SERVER_ERROR
    if 400 <= status < 500:
        return Outcome.BAD_REQUEST
    return Outcome.PROTOCOL_ERROR


class OpenAIImagesProbe:
    """Probe for an OpenAI-compatible Images API."""

    Options: ClassVar[type[BaseModel]] = OpenAIImagesOptions
    #: parameters sent unless the offering overrides them
    default_params: ClassVar[dict[str, Any]] = {"n": 1}

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        headers = {}
        if ctx.secret:
            headers["Authorization"] = f"Bearer {ctx.secret}"
        options = ctx.options
        assert isinstance(options, OpenAIImagesOptions)
        if options.organization:
            headers["OpenAI-Organization"] = options.organization
        if options.project:
            headers["OpenAI-Project"] = options.project
        return headers

    def fail(self, ctx: ProbeContext, response: httpx.Response, body: Any) -> ProbeFailure:
        code, _, message = error_fields(body)
        detail = message or response.text[:200]
        return ProbeFailure(
            classify(response.status_code, body),
            f"HTTP {response.status_code} {code}: {detail}".strip(),
            http_status=response.status_code,
            retry_after_s=retry_after_seconds(response.headers),
        )

    def _body_or_none(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    async def generate(self, ctx: ProbeContext) -> bytes:
        body = {
            **self.default_params,
            "model": ctx.provider_model,
            "prompt": ctx.prompt,
            **ctx.params,
        }
        response = await ctx.send(
            "POST", f"{ctx.base_url}/images/generations", json=body, headers=self.headers(ctx)
        )
        ctx.request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise self.fail(ctx, response, self._body_or_none(response))
        answer = ctx.json_body(response)
        served = answer.get("model") if isinstance(answer, dict) else None
        ctx.served_model = served if isinstance(served, str) else None
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer has no data list", http_status=200)
        if not data:
            # a 200 with no image is how some compatible servers report a safety block
            raise ProbeFailure(Outcome.CONTENT_FILTERED, "answer has no images", http_status=200)
        item = data[0]
        if not isinstance(item, dict):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "data[0] is not an object")
        if isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise ProbeFailure(Outcome.INVALID_OUTPUT, "b64_json is not base64") from None
        if isinstance(item.get("url"), str):
            return await ctx.download(item["url"])
        raise ProbeFailure(Outcome.INVALID_OUTPUT, "data[0] has neither b64_json nor url")

    async def control(self, ctx: ProbeContext) -> None:
        options = ctx.options
        assert isinstance(options, OpenAIImagesOptions)
        if options.control == "get_model":
            url = f"{ctx.base_url}/models/{ctx.provider_model}"
        else:
            url = f"{ctx.base_url}/models"
        response = await ctx.send("GET", url, headers=self.headers(ctx))
        ctx.request_id = response.headers.get("x-request-id")
        body = self._body_or_none(response)
        if response.status_code != 200:
            raise self.fail(ctx, response, body)
        if not isinstance(body, dict):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "model answer is not a JSON object")
        if options.control == "list_models":
            ids = {m.get("id") for m in body.get("data", []) if isinstance(m, dict)}
            if ctx.provider_model not in ids:
                raise ProbeFailure(
                    Outcome.MODEL_UNAVAILABLE, f"{ctx.provider_model} is not in the model list"
                )
        elif body.get("id") != ctx.provider_model:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "model answer names another model")

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """``GET {base}/models``; OpenAI adds each model's ``shutdown_date``."""
        return await openai_models(ctx, self.headers(ctx))
