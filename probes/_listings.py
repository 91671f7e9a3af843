"""Providers' own model listings: free calls that say which models exist today.

One function per listing shape, used by the protocols' ``list_models``. Each returns every
model the listing names (so a catalog offering can be checked against it) with a flag for
image-generation models; where the listing has no modality field the flag comes from the
model id (:func:`image_like`), a heuristic said as such. Pagination is followed up to
``MAX_PAGES`` pages. Failures raise :class:`ProbeFailure` like any probe call.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from monitor.http import status_outcome
from monitor.interfaces import ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext

MAX_PAGES = 20
#: id fragments of image-generation models, for listings without a modality field
_IMAGE_WORDS = re.compile(
    r"image|imagen|dall-e|flux|seedream|recraft|ideogram|imagine|nano-banana|stable-diffusion|sdxl",
    re.IGNORECASE,
)


def image_like(model_id: str) -> bool:
    """Whether an id names an image model (OpenAI's, Gemini's and Vertex's listings carry no
    output modality, so the id is all there is)."""
    return bool(_IMAGE_WORDS.search(model_id))


def _json(ctx: ProbeContext, response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProbeFailure(
            status_outcome(response.status_code),
            f"{what} answered HTTP {response.status_code}",
            http_status=response.status_code,
        )
    body = ctx.json_body(response)
    if not isinstance(body, dict):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, f"{what} is not a JSON object")
    return body


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _day(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


async def openai_models(ctx: ProbeContext, headers: dict[str, str]) -> list[ListedModel]:
    """``GET {base}/models`` (OpenAI and compatible servers): ``data[].id``, and OpenAI's
    optional ``shutdown_date`` (YYYY-MM-DD) per model."""
    response = await ctx.send("GET", f"{ctx.base_url}/models", headers=headers, timed=False)
    data = _json(ctx, response, "model listing").get("data")
    if not isinstance(data, list):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "model listing has no data list")
    return [
        ListedModel(
            model=item["id"],
            image=image_like(item["id"]),
            shutdown_at=_day(item.get("shutdown_date")),
        )
        for item in data
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


async def google_models(
    ctx: ProbeContext, url: str, headers: dict[str, str], key: str
) -> list[ListedModel]:
    """Gemini API ``models.list`` (``key`` = ``models``) or Vertex AI's publisher models
    (``publisherModels``): names like ``models/x`` or ``publishers/google/models/x``;
    ``predict`` among ``supportedGenerationMethods`` marks an Imagen model."""
    found: list[ListedModel] = []
    params = {"pageSize": "1000"}
    for _ in range(MAX_PAGES):
        response = await ctx.send("GET", url, headers=headers, params=params, timed=False)
        body = _json(ctx, response, "model listing")
        for item in body.get(key) or []:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            model = name.rsplit("/", 1)[-1]
            methods = item.get("supportedGenerationMethods") or []
            image = image_like(model) or ("predict" in methods and "embed" not in model)
            found.append(ListedModel(model=model, image=bool(image)))
        token = body.get("nextPageToken")
        if not isinstance(token, str) or not token:
            break
        params = {"pageSize": "1000", "pageToken": token}
    return found


async def fal_models(ctx: ProbeContext, api_url: str, headers: dict[str, str]) -> list[ListedModel]:
    """fal's model search, ``GET {api}/models?category=text-to-image``: ``models[]`` of
    ``{endpoint_id, metadata: {category, status}}``, ``has_more`` / ``next_cursor``
    (docs.fal.ai/platform-apis/v1/models)."""
    found: list[ListedModel] = []
    params = {"category": "text-to-image", "limit": "100"}
    for _ in range(MAX_PAGES):
        response = await ctx.send(
            "GET", f"{api_url}/models", headers=headers, params=params, timed=False
        )
        body = _json(ctx, response, "model search")
        for item in body.get("models") or []:
            endpoint = item.get("endpoint_id") if isinstance(item, dict) else None
            if not isinstance(endpoint, str):
                continue
            meta = _object(item.get("metadata"))
            found.append(
                ListedModel(
                    model=endpoint,
                    image=meta.get("category", "text-to-image") == "text-to-image",
                    deprecated=meta.get("status") == "deprecated",
                )
            )
        cursor = body.get("next_cursor")
        if not body.get("has_more") or not isinstance(cursor, str):
            break
        params = {**params, "cursor": cursor}
    return found


async def replicate_models(
    ctx: ProbeContext, api_url: str, headers: dict[str, str]
) -> list[ListedModel]:
    """Replicate's ``GET {api}/collections/text-to-image``: ``models[]`` of ``{owner, name}``
    (the official image models are in it)."""
    response = await ctx.send(
        "GET", f"{api_url}/collections/text-to-image", headers=headers, timed=False
    )
    models = _json(ctx, response, "collection").get("models")
    if not isinstance(models, list):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "collection has no models list")
    return [
        ListedModel(model=f"{m['owner']}/{m['name']}", image=True)
        for m in models
        if isinstance(m, dict)
        and isinstance(m.get("owner"), str)
        and isinstance(m.get("name"), str)
    ]


async def openrouter_models(ctx: ProbeContext, headers: dict[str, str]) -> list[ListedModel]:
    """OpenRouter's image-model listing, ``GET {base}/images/models`` (its official SDK's
    path): ``data[]`` with ``architecture.output_modalities`` and, where given,
    ``pricing.image`` (USD per image, a decimal string; "-1" means dynamic)."""
    response = await ctx.send("GET", f"{ctx.base_url}/images/models", headers=headers, timed=False)
    data = _json(ctx, response, "model listing").get("data")
    if not isinstance(data, list):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "model listing has no data list")
    found = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        arch = _object(item.get("architecture"))
        modalities = arch.get("output_modalities") or []
        pricing = _object(item.get("pricing"))
        found.append(
            ListedModel(
                model=item["id"],
                image=not modalities or "image" in modalities,
                price_usd=_decimal(pricing.get("image")),
            )
        )
    return found
