"""OpenRouter's image API (``https://openrouter.ai/api/v1``).

Generate: ``POST {base}/images`` with ``Authorization: Bearer KEY`` and an OpenAI-Images-like
body ``{model, prompt, n, aspect_ratio, ...}`` (a flat path, not ``/images/generations``:
https://openrouter.ai/docs/features/multimodal/image-generation-api, QuantumNous/new-api
PR #5964). The answer is always base64, ``{created, model?, data: [{b64_json, media_type}],
usage: {prompt_tokens, completion_tokens, total_tokens, cost, completion_tokens_details,
cost_details}}`` (BerriAI/litellm ``llms/openrouter/image_api.py``); ``usage.cost`` is
what OpenRouter billed, kept as the reported cost. Errors: ``{"error": {code, message,
metadata?}}`` with the HTTP status equal to ``code`` (https://openrouter.ai/docs/errors):
402 is our credits, 403 a moderation flag, 502 the model down (a failed generation, not
billed), 503 no provider available for our routing.

Control (free): ``GET {base}/key`` proves the key (and says whether credits remain), then
``GET {base}/images/models/{author}/{slug}/endpoints`` must list an endpoint serving the model
(paths as in the official SDK, PyPI ``openrouter``, ``images.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from monitor.http import retry_after_seconds, status_outcome
from monitor.interfaces import GatewayNames, ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._listings import openrouter_models
from probes._openai_images import OpenAIImagesProbe

#: OpenRouter's answer to a model id it does not serve (retired or never listed)
_NOT_A_MODEL = "not a valid model id"


class OpenRouterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: optional app attribution headers (https://openrouter.ai/docs/app-attribution)
    http_referer: str | None = None
    app_title: str | None = None


def _error(body: Any) -> tuple[int | None, str, dict[str, Any]]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "", {}
    code = error.get("code")
    metadata = error.get("metadata")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        str(error.get("message") or ""),
        metadata if isinstance(metadata, dict) else {},
    )


def classify(status: int, body: Any, *, names_model: bool = True) -> Outcome:
    """The outcome of a non-200 OpenRouter answer (codes as https://openrouter.ai/docs/errors).

    A 404 says the model is gone only on a call that names it and inside OpenRouter's JSON
    envelope; an HTML 404 is a wrong URL (``protocol_error``). Then the one status ladder.
    """
    code, message, _ = _error(body)
    status = code if status == 200 and code else status
    if status == 403:  # the model requires moderation and the input was flagged
        return Outcome.CONTENT_FILTERED
    enveloped = isinstance(body, dict) and "error" in body
    if status in (404, 410) and not (names_model and enveloped):
        return Outcome.PROTOCOL_ERROR
    if status == 400 and _NOT_A_MODEL in message.lower():
        return Outcome.MODEL_UNAVAILABLE
    # 401 our key, 402 our credits: account problems (the ladder makes them auth_error);
    # 502 the model is down, 503 no provider meets the routing requirements
    return status_outcome(status)


class OpenRouterProbe(OpenAIImagesProbe):
    Options: ClassVar[type[BaseModel]] = OpenRouterOptions
    # LiteLLM ``openrouter/<slug>`` (litellm 1.106.2 sends its images through chat
    # completions). Portkey's openrouter provider gains image generation only with
    # Portkey-AI/gateway PR #1722 (open), and routing OpenRouter through OpenRouter's own
    # provider object means nothing: both left out
    gateways: ClassVar[GatewayNames] = GatewayNames(litellm="openrouter")
    fake: ClassVar[str] = "openrouter"
    default_params: ClassVar[dict[str, Any]] = {"n": 1}
    images_path: ClassVar[str] = "/images"

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        options = ctx.options
        assert isinstance(options, OpenRouterOptions)
        headers = {"Authorization": f"Bearer {ctx.secret}"} if ctx.secret else {}
        if options.http_referer:
            headers["HTTP-Referer"] = options.http_referer
        if options.app_title:  # the official SDK's header name
            headers["X-OpenRouter-Title"] = options.app_title
        return headers

    def fail(
        self, ctx: ProbeContext, response: httpx.Response, body: Any, *, names_model: bool = True
    ) -> ProbeFailure:
        _, message, metadata = _error(body)
        detail = message or response.text[:200]
        reasons = metadata.get("reasons")
        if isinstance(reasons, list) and reasons:  # a moderation flag says why
            detail += f" ({', '.join(str(r) for r in reasons)[:200]})"
        account = {401: "account: key; ", 402: "account: billing; "}.get(response.status_code, "")
        return ProbeFailure(
            classify(response.status_code, body, names_model=names_model),
            f"{account}HTTP {response.status_code}: {detail}".strip()[:1000],
            http_status=response.status_code,
            retry_after_s=retry_after_seconds(response.headers),
        )

    async def control(self, ctx: ProbeContext) -> None:
        response = await ctx.send("GET", f"{ctx.base_url}/key", headers=self.headers(ctx))
        body = self._body_or_none(response)
        if response.status_code != 200:
            raise self.fail(ctx, response, body)
        key = body.get("data") if isinstance(body, dict) else None
        if not isinstance(key, dict):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "key answer has no data object")
        remaining = key.get("limit_remaining")
        if isinstance(remaining, int | float) and remaining <= 0:
            raise ProbeFailure(Outcome.AUTH_ERROR, "the key's credit limit is used up")
        url = f"{ctx.base_url}/images/models/{ctx.provider_model}/endpoints"
        listed = await ctx.send("GET", url, headers=self.headers(ctx))
        body = self._body_or_none(listed)
        if listed.status_code != 200:  # 404: OpenRouter lists no such image model
            raise self.fail(ctx, listed, body)
        endpoints = body.get("endpoints") if isinstance(body, dict) else None
        if not isinstance(endpoints, list):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "endpoints answer has no endpoints list")
        if not endpoints:
            raise ProbeFailure(
                Outcome.MODEL_UNAVAILABLE, f"no provider serves {ctx.provider_model} now"
            )

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """OpenRouter's image models (a free call)."""
        return await openrouter_models(ctx, self.headers(ctx))
