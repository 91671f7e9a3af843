"""The OpenAI Images API family: ``POST {base}/images/generations`` and ``GET {base}/models``.

Shared by every OpenAI-compatible surface (OpenAI itself, the Lumenfall aggregator, xAI,
Recraft, BytePlus); they differ by options (``auth_header``) and offering params (``size``
or ``aspect_ratio``/``resolution``, ``quality``, ``output_format``, sent as given), not by
code. Answers carry ``data[].b64_json`` or ``data[].url``, and ``usage`` where the provider
reports it: GPT Image models report tokens (``input_tokens`` with a text/image breakdown,
``output_tokens`` without one: openai SDK ``types/images_response.py``), some resellers a
``usage.cost`` in USD. Errors use OpenAI's envelope ``{"error": {message, type, param,
code}}``.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from monitor.http import retry_after_seconds, status_outcome
from monitor.interfaces import ListedModel, Outcome, ProbeFailure, Usage
from monitor.probe_context import ProbeContext
from probes._listings import openai_models

#: codes are compared in lower case: Lumenfall sends OpenAI's envelope with upper-case codes
#: (``INSUFFICIENT_BALANCE``, ``MODEL_NOT_FOUND``: docs.lumenfall.ai/api-reference/errors)
_FILTERED_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
_GONE_CODES = frozenset({"model_not_found", "model_deprecated", "model_retired", "model_disabled"})
#: codes (or types) that blame OUR account, and which part of it. OpenAI answers an empty
#: balance as 429 ``insufficient_quota`` (help.openai.com/en/articles/6891831; sometimes
#: only the type says so: github.com/ayaka14732/ChatGPTAPIFree/issues/16) and a reached
#: limit as 400 ``billing_hard_limit_reached`` (github.com/dfinke/PowerShellAI/issues/127);
#: Lumenfall as 402 ``INSUFFICIENT_BALANCE``. None of them clears by waiting.
_ACCOUNT_CODES = {
    "insufficient_quota": "quota",
    "billing_hard_limit_reached": "billing",
    "insufficient_balance": "billing",
    "invalid_api_key": "key",
    "authentication_failed": "key",
    "account_deactivated": "key",
}
#: ``organization_spend_limit_exceeded``, ``project_spend_limit_exceeded`` (OpenAI's
#: enforced budgets) and the ``*_usage_limit_exceeded`` family
_LIMIT_SUFFIXES = {"_spend_limit_exceeded": "billing", "_usage_limit_exceeded": "quota"}


class OpenAIImagesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: how the free control probe checks the model: get it, or list all and look for it
    control: Literal["get_model", "list_models"] = "get_model"
    organization: str | None = None
    project: str | None = None
    #: how the key is sent: ``Authorization: Bearer KEY``, or ``api-key: KEY`` (Azure
    #: OpenAI: https://learn.microsoft.com/azure/ai-services/openai/reference#authentication)
    auth_header: Literal["bearer", "api-key"] = "bearer"


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


def _count(obj: Any, name: str) -> int | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_of(answer: dict[str, Any], images: int) -> Usage | None:
    """What an answer's ``usage`` says it consumed; None when it reports nothing.

    Token names are OpenAI's (``input_tokens``, ``output_tokens``, ``*_tokens_details``) or
    the chat-style ones OpenRouter's image API uses (``prompt_tokens``,
    ``completion_tokens``, ``completion_tokens_details``: BerriAI/litellm
    ``llms/openrouter/image_api.py``). Output tokens count as image tokens unless the
    details split them: the Images API reports no breakdown for GPT Image models, and
    pricing those tokens at the text rate under-bills them (BerriAI/litellm#31142). A
    ``cost`` (USD) is kept as the provider's own reported cost.
    """
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return None
    cost: Decimal | None = None
    raw_cost = usage.get("cost")
    if isinstance(raw_cost, int | float | str) and not isinstance(raw_cost, bool):
        try:
            cost = Decimal(str(raw_cost))
        except InvalidOperation:
            cost = None
        cost = cost if cost is not None and cost.is_finite() and cost >= 0 else None
    inputs = _either(usage, "input_tokens", "prompt_tokens")
    input_split = usage.get("input_tokens_details", usage.get("prompt_tokens_details"))
    input_image = _count(input_split, "image_tokens")
    output = _either(usage, "output_tokens", "completion_tokens")
    split = usage.get("output_tokens_details", usage.get("completion_tokens_details"))
    out_image, out_text = _count(split, "image_tokens"), _count(split, "text_tokens")
    if out_image is None and out_text is None:
        out_image = output
    if inputs is None and output is None and cost is None:
        return None
    return Usage(
        images=images,
        input_tokens=max(0, inputs - (input_image or 0)) if inputs is not None else None,
        input_image_tokens=input_image,
        output_text_tokens=out_text,
        output_image_tokens=out_image,
        reported_cost_usd=cost,
    )


def _either(usage: dict[str, Any], name: str, other: str) -> int | None:
    found = _count(usage, name)
    return found if found is not None else _count(usage, other)


#: offering params that say the output size another way than ``size`` (xAI, OpenRouter)
_SIZE_ALTERNATIVES = frozenset({"aspect_ratio", "resolution"})


def request_body(
    defaults: dict[str, Any], model: str, prompt: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The generation body: the protocol's defaults, then the offering's params as given.

    An offering that sizes its image by ``aspect_ratio`` or ``resolution`` does not get the
    default ``size`` (xAI rejects ``size``: image-market-2026.md, row X1), and a param set
    to null removes a default outright.
    """
    base = dict(defaults)
    if _SIZE_ALTERNATIVES & set(params):
        base.pop("size", None)
    body = {**base, "model": model, "prompt": prompt, **params}
    return {k: v for k, v in body.items() if v is not None}


def account_problem(status: int, body: Any) -> str | None:
    """Which part of OUR account an answer blames (key, permission, billing, quota), if any.

    A person must act (pay, raise a limit, verify the organization, rotate the key); the
    status alone misleads: an empty balance is a 429, a reached limit a 400.
    """
    code, kind, _ = error_fields(body)
    for value in (code.lower(), kind.lower()):
        if value in _ACCOUNT_CODES:
            return _ACCOUNT_CODES[value]
        for suffix, which in _LIMIT_SUFFIXES.items():
            if value.endswith(suffix):
                return which
    if status == 402:
        return "billing"
    if status == 401:
        return "key"
    if status == 403:
        # e.g. "Your organization must be verified to use the model `gpt-image-1`"
        return "permission"
    return None


def classify(status: int, body: Any, *, names_model: bool = True) -> Outcome:
    """The outcome of a non-200 answer from an OpenAI-compatible server.

    ``names_model``: whether the call named the model (generate, get the model). Only such
    a call can say the model is gone, and only in a JSON error envelope: a 404 without one
    (an HTML page from a proxy) or OpenAI's "Invalid URL (POST /v1/...)" is a wrong URL,
    ``protocol_error``. Then :func:`monitor.http.status_outcome`.
    """
    code, kind, message = error_fields(body)
    code = code.lower()
    if code in _FILTERED_CODES or (kind == "image_generation_user_error" and "moderation" in code):
        return Outcome.CONTENT_FILTERED
    if account_problem(status, body):
        return Outcome.AUTH_ERROR
    enveloped = isinstance(body, dict) and "error" in body
    if code in _GONE_CODES or status in (404, 410):
        wrong_url = not enveloped or message.startswith("Invalid URL")
        if names_model and not wrong_url:
            return Outcome.MODEL_UNAVAILABLE
        return Outcome.PROTOCOL_ERROR if status in (404, 410) else status_outcome(status)
    return status_outcome(status)


class OpenAIImagesProbe:
    """Probe for an OpenAI-compatible Images API."""

    Options: ClassVar[type[BaseModel]] = OpenAIImagesOptions
    #: parameters sent unless the offering overrides them
    default_params: ClassVar[dict[str, Any]] = {"n": 1}
    #: where generations are posted, under the base URL
    images_path: ClassVar[str] = "/images/generations"

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        headers = {}
        options = ctx.options
        assert isinstance(options, OpenAIImagesOptions)
        if ctx.secret and options.auth_header == "api-key":
            headers["api-key"] = ctx.secret
        elif ctx.secret:
            headers["Authorization"] = f"Bearer {ctx.secret}"
        if options.organization:
            headers["OpenAI-Organization"] = options.organization
        if options.project:
            headers["OpenAI-Project"] = options.project
        return headers

    def fail(
        self, ctx: ProbeContext, response: httpx.Response, body: Any, *, names_model: bool = True
    ) -> ProbeFailure:
        code, _, message = error_fields(body)
        status = response.status_code
        detail = message or response.text[:200]
        account = account_problem(status, body)
        # the account part first, so a person reads whose problem it is
        prefix = f"account: {account}; " if account else ""
        return ProbeFailure(
            classify(status, body, names_model=names_model),
            f"{prefix}HTTP {status} {code}: {detail}".strip()[:1000],
            http_status=status,
            retry_after_s=retry_after_seconds(response.headers),
        )

    def _body_or_none(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    async def generate(self, ctx: ProbeContext) -> bytes:
        body = request_body(self.default_params, ctx.provider_model, ctx.prompt, ctx.params)
        response = await ctx.send(
            "POST", f"{ctx.base_url}{self.images_path}", json=body, headers=self.headers(ctx)
        )
        ctx.request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise self.fail(ctx, response, self._body_or_none(response))
        answer = ctx.json_body(response)
        served = answer.get("model") if isinstance(answer, dict) else None
        ctx.served_model = served if isinstance(served, str) else None
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict) and "data" not in answer:
            # an error reported in a 200 body (OpenRouter: https://openrouter.ai/docs/errors)
            raise self.fail(ctx, response, answer)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer has no data list", http_status=200)
        ctx.usage = usage_of(answer, images=len(data))
        served = answer.get("model")  # resellers name the model that served (OpenRouter)
        ctx.served_model = served if isinstance(served, str) else None
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
            named = options.control == "get_model"  # listing all models names none
            raise self.fail(ctx, response, body, names_model=named)
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
